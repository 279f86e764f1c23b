"""GeoIP databases: opening and checking MMDB files; country, region, city and ASN lookups."""
