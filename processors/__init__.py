"""Media processing: type sniffing, image and video pipelines, Lambda handlers, the local worker."""
