"""The hub's business rules (RULES.md) as pure functions over plain frozen dataclasses.

Nothing here touches the database, MQTT, files or Flask: adapters load rows into these
dataclasses, call the rules and store what comes back, so every number the hub reports can be
checked by a table test.

- `model`: the plain data (sites, taps, sessions, members, invoice lines, figures).
- `calendar`: opening hours, closing times and available hours, DST-correct.
- `presence`: taps to sessions, incremental recompute, who is present.
- `billing`: invoice lines per member × site × month.
- `invoices`: closed months' adjustments, invoice totals (VAT) and numbering.
- `evaluation`: the department's yearly figures.
- `months`: a site's sessions of a month summed up, what the evaluation and its charts
  (`patterns`) are computed from.
"""
