"""The console's forms, one module per area (`auth`, `admin`, `board`), as CTFd does.

Every form is a Flask-WTF `FlaskForm`: it carries the CSRF token (`{{ form.csrf_token }}`),
and its labels and messages go through the catalog (`lazy_gettext`).
"""
