"""The tus 1.0 resumable-upload protocol: headers and metadata (protocol), upload records (records),
request bodies (body) and the HTTP handlers (handlers)."""
