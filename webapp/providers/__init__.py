"""AI text and speech back ends behind small interfaces.

Providers never import Flask or the database: they take settings or plain
values and return plain data (and what each call cost), so background jobs can
call them and record the cost ledger themselves. Text generation lives in
``webapp.providers.text``.
"""
