"""Data the policy package ships and reads, never downloads: the UTS #39 confusables table
(`confusables.txt`, unicode.org's file unchanged), ISO 3166 codes and parent relations (`iso3166.json`)
and the country groups (`group_*.json`). Each file states its source and date; README.md says how to
refresh them."""
