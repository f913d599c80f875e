"""The day report a supervisor looks at: its data, SVG charts, HTML page and downloads.

- `load_day_report(store, config, day, campaign=...)` -> `DayReport` (reads the store)
- `render_day_report(report, ...)` -> the HTML page (charts inline)
- `report_xlsx(report)` -> XLSX bytes; `report_csv_excel(report)` -> CSV bytes for Excel
- `report_routes(...)` -> Starlette routes serving all of it
"""
