"""A patient's uploads: the tus service and what it stands on.

`service` (create, inspect, write, remove; knows nothing of HTTP) depends on
three small protocols in `ports`: the store it appends to, the `locking`
lease on the upload's row, and the `hooks` through which the encounter rules
react (type known, upload complete). `records` holds the rows, `limits` what
a patient may send, `write_behind` keeps the socket reading while the store
writes. Imports infrastructure and the rest of `shared.encounters`.
"""
