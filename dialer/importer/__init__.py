"""Client import: a CSV file -> validated `ClientRecord`s -> a store (`ClientSink`).

Parsing and validation are pure (`parse_row`); `import_clients` reads the file, batches the
good rows into the sink and writes every bad row, with its line number and the reason, to
``<stem>.rejected.csv`` next to the input so a supervisor can fix it and import it again.
No row is lost: ``rows == imported + updated + rejected``.

Columns (header names are case-insensitive; order does not matter):

* required: ``id``, ``name``, ``phone``
* optional: ``timezone``, ``country``, ``schedule``, ``stage``, ``next_contact``,
  ``complaint``, ``do_not_call``, ``campaign``
* anything else is kept in ``attributes`` (empty cells dropped).

The file is UTF-8 (a BOM is fine) or, when it is not valid UTF-8, Windows-1251 (what a
Russian Excel writes by default); the delimiter is ``;`` or ``,`` (or a tab), detected on
the header line. A column whose header cell is empty keeps its values as the attribute
``column_N`` (N = its position).

A bad row never stops the import: a row that cannot even be read (a cell over 128 KiB, a
line over 1 MiB, bytes that are not text in the file's encoding) is rejected with its
reason like an invalid one. The rejected file quotes cells a spreadsheet would run as a
formula (``=``, ``+``, ``-``, ``@`` first) with a leading ``'``, removed again when that
file is imported.

Time zone of a client, first that applies: the ``timezone`` cell; the zone of the phone
number when phonenumbers knows exactly one zone for it (landline area codes; a Russian
mobile number maps to all of Russia's zones, so it is never inferred); the time zone of the
client's schedule; of its campaign; the center's.

The parts, one job each:

* `rows`: one row -> a record or the reasons it is refused (pure), using
  `phones` (phone cells -> E.164) and `zones` (phone number -> time zone);
* `source`: the file -> rows (encoding, delimiter, header, bounded lines);
* `side_files` and `cells`: the rejected and defaulted files written next to it;
* `batches`: rows -> batches of records with the counts of the summary;
* `pipeline`: `import_clients`, batches into the store from a thread or a process;
* `summary` and `errors`: what an import returns and raises.
"""

from dialer.importer.errors import ImportAborted, ImportFileError, RowError
from dialer.importer.pipeline import PARALLEL_FROM_BYTES, import_clients
from dialer.importer.rows import KNOWN_COLUMNS, OPTIONAL_COLUMNS, REJECT_COLUMNS, REQUIRED_COLUMNS, parse_row
from dialer.importer.source import FIELD_LIMIT, LINE_LIMIT
from dialer.importer.summary import ClientSink, ImportSummary, defaulted_path_for, rejected_path_for
from dialer.importer.zones import TZ_DEFAULTED, TZ_FROM_ROW, TZ_INFERRED, ZONE_OVERRIDES

__all__ = [
    "FIELD_LIMIT",
    "KNOWN_COLUMNS",
    "LINE_LIMIT",
    "OPTIONAL_COLUMNS",
    "PARALLEL_FROM_BYTES",
    "REJECT_COLUMNS",
    "REQUIRED_COLUMNS",
    "TZ_DEFAULTED",
    "TZ_FROM_ROW",
    "TZ_INFERRED",
    "ZONE_OVERRIDES",
    "ClientSink",
    "ImportAborted",
    "ImportFileError",
    "ImportSummary",
    "RowError",
    "defaulted_path_for",
    "import_clients",
    "parse_row",
    "rejected_path_for",
]
