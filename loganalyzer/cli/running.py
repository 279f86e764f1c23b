"""The steps every log-reading command shares, around its one library call.

Before: the inputs (``--sample``, the settings' ``logs``). During: the rejects
file and the progress bar. After: the notes on stderr, the output written, and
the read faults, which fail the run unless ``--keep-going``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from loganalyzer.cli.console import echo_err, input_size, progress, write_stdout
from loganalyzer.cli.context import quiet, setting
from loganalyzer.cli.errors import Interrupt
from loganalyzer.errors import OutputError, UsageError

if TYPE_CHECKING:
    from loganalyzer.cli.command_options import OutputOptions
    from loganalyzer.cli.options import GeoOptions, ReadOptions
    from loganalyzer.ingest.read import ReadFault


def with_sample(read: ReadOptions, geo: GeoOptions) -> tuple[ReadOptions, GeoOptions]:
    """The logs to read and the databases: ``--sample``'s, else as given or set.

    Raises:
        UsageError: no logs given, set, or asked for with ``--sample``.
    """
    if not read.sample:
        logs = read.logs or tuple(setting("logs") or ())
        if not logs:
            raise UsageError("no log files given; pass LOG... (or - for stdin), or --sample")
        return replace(read, logs=logs), geo
    from loganalyzer.analysis.pipeline import sample_paths

    s = sample_paths()
    if not quiet():
        echo_err(
            "Using the bundled sample log and its invented sample databases (not real geolocation)."
        )
    return (
        replace(read, logs=read.logs or (str(s.log),)),
        replace(geo, city_db=geo.city_db or str(s.city_db), asn_db=geo.asn_db or str(s.asn_db)),
    )


def _create_rejects(path: str) -> IO[str]:
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write rejects ({exc.strerror})") from None


@contextmanager
def open_rejects(path: str | None) -> Iterator[IO[str] | None]:
    """The ``--rejects`` file, or None; removed again when the run is interrupted."""
    if path is None:
        yield None
        return
    handle = _create_rejects(path)
    try:
        yield handle
    except (KeyboardInterrupt, Interrupt):
        # Rejects stream out as lines are read (kept on errors, to see what was
        # wrong), but an interrupted run leaves no half-written file behind.
        handle.close()
        Path(path).unlink(missing_ok=True)
        raise
    finally:
        handle.close()


@dataclass(frozen=True)
class Reading:
    """What a library call gets while it reads: the rejects stream, the progress bar."""

    rejects: IO[str] | None
    on_bytes: Callable[[int], None] | None

    def args(self) -> dict[str, Any]:
        """``rejects`` and ``on_bytes`` as the library takes them."""
        return {"rejects": self.rejects, "on_bytes": self.on_bytes}


@contextmanager
def reading(
    read: ReadOptions, inputs: Sequence[str] | None = None, *, with_progress: bool = True
) -> Iterator[Reading]:
    """Open the rejects file and, on a terminal, a bar of the ``inputs``' bytes read."""
    names = read.logs if inputs is None else inputs
    with (
        open_rejects(read.rejects) as rejects,
        progress(input_size(names) if with_progress else None, quiet()) as on_bytes,
    ):
        yield Reading(rejects, on_bytes)


def note_run(meta: Mapping[str, Any], read: ReadOptions, *, databases: bool = False) -> None:
    """The notes after a run (unless ``--quiet``): rejects, databases, sources."""
    from loganalyzer.outputs.notes import database_notes, rejects_summary, source_notes

    if quiet():
        return
    summary = rejects_summary(meta, read.rejects)
    if summary:
        echo_err(summary)
    for line in [*(database_notes(meta) if databases else []), *source_notes(meta)]:
        echo_err(line)


def note_written(what: str, out_path: str | None) -> None:
    """``Wrote <what> to FILE`` on stderr, when written to a file (unless ``--quiet``)."""
    if out_path and not quiet():
        echo_err(f"Wrote {what} to {out_path}")


def write_output(text: str | bytes, out_path: str | None, inputs: Sequence[str]) -> None:
    """A whole rendered output to stdout, or atomically to ``-o FILE``."""
    if out_path is None or out_path == "-":
        write_stdout(text)
        return
    from loganalyzer.outputs.target import write_file

    write_file(text, out_path, inputs)


def refuse_binary_on_terminal(fmt: str, to_tty: bool) -> None:
    """Parquet and xlsx go to a file, not to a terminal.

    Raises:
        UsageError: a binary format asked for on a terminal.
    """
    if fmt in ("parquet", "xlsx") and to_tty:
        raise UsageError(f"{fmt} is binary: write it with -o FILE.{fmt}")


def render_chosen(
    analysis: Any, fmt: str, out: OutputOptions, own: Callable[[Any], str | bytes]
) -> str | bytes:
    """The command's own rendering (``own``), or with ``--columns`` the columns chosen.

    The chosen columns go to every format; the table then shows exactly them.
    """
    if not out.columns:
        return own(analysis)
    from loganalyzer.outputs.render import render, render_selected_table

    chosen = out.select(analysis)
    if fmt == "table":
        return render_selected_table(chosen, width=out.table_width(), color=out.to_tty)
    return render(chosen, fmt, safe_csv=out.safe_csv, terminal=out.to_tty)


def deliver(
    result: Any,
    read: ReadOptions,
    out: OutputOptions,
    fmt: str,
    own: Callable[[Any], str | bytes],
    *,
    inputs: Sequence[str],
    what: str | None = None,
    databases: bool = False,
) -> None:
    """After a table command's one library call: notes, the output, then the end checks.

    ``result`` has ``meta`` and ``faults`` (an Analysis, or the clusters of
    ``links``); ``own`` renders it in ``fmt`` (``--columns`` aside, see
    :func:`render_chosen`); ``what`` names it in ``Wrote ... to FILE``.
    """
    note_run(result.meta, read, databases=databases)
    refuse_binary_on_terminal(fmt, out.to_tty)
    write_output(render_chosen(result, fmt, out, own), out.out_path, inputs)
    if what:
        note_written(what, out.out_path)
    end_run(result.faults, read, result.meta)


def end_run(
    faults: Sequence[ReadFault], read: ReadOptions, meta: Mapping[str, Any] | None = None
) -> None:
    """Warn of each input left out or broken off part-way; fail on it unless ``--keep-going``.

    Then, when lines were read but none matched the filters or the period, say so:
    an empty output must not pass for "no access". Last, with ``--keep-going``,
    a run that left inputs out ends with the partial code.

    Raises:
        TruncatedInputError: the first fault, without ``--keep-going``.
        InputError: every input was skipped (``--keep-going``): nothing was analysed.
        NothingMatchedError: ``meta.nothing_matched`` is set (after the output).
        PartialError: ``--keep-going`` skipped or cut short some inputs.
    """
    from loganalyzer.analysis.empty import nothing_matched_message
    from loganalyzer.analysis.pipeline import raise_for_faults
    from loganalyzer.errors import InputError, NothingMatchedError, PartialError
    from loganalyzer.outputs.notes import fault_warnings

    for line in fault_warnings(faults):
        echo_err(line)
    if faults and not read.keep_going:
        raise_for_faults(faults)
    skipped = {f.source for f in faults if f.skipped}
    files = (meta or {}).get("files") or []
    if skipped and files and all(f.get("skipped") for f in files):
        raise InputError(f"every input was skipped ({len(files)}): nothing was analysed")
    message = nothing_matched_message(meta or {})
    if message:
        raise NothingMatchedError(message)
    if faults:
        cut = {f.source for f in faults if not f.skipped}
        parts = [f"{len(skipped)} skipped"] if skipped else []
        parts += [f"{len(cut)} cut short"] if cut else []
        of = f" of {len(files)} inputs" if files else ""
        raise PartialError(
            f"{' and '.join(parts)}{of} (see the warnings above); the output covers the rest"
        )
