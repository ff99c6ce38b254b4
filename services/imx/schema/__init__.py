"""Avro schemas (`schemas/` is the truth): loading, single-object codec, JSON form, validation and
the compatibility gate."""
