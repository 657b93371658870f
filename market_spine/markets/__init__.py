"""Market reference data: exchange sessions and calendars, instruments and their roll rules, option
expirations and settlement, OSI symbology, and the parsing of dates and times the user gives."""
