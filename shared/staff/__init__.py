"""Staff: accounts, sign-in (password, TOTP, sessions, the sign-in cookie), enrollment, administration.

Owns: creating accounts and their one-time set-up links (`accounts`),
finishing set-up (`enrollment`), the sign-in rules and sessions
(`authentication`), what administrators change (`account_admin`), refused
page openings (`access`), the password rule (`passwords`) and TOTP (`totp`).

May import: infrastructure only (`shared.config`, `crypto`, `db`, `audit`,
`logging`, `context` and the small modules); no other subject.
"""
