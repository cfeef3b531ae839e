"""De-identification: keys, pseudonyms, date shifts, generalisation, per column class."""
