"""Competing methods, one file each. Every module here not starting with '_' registers itself
with :func:`adc.methods.register` when :func:`adc.methods.discover` imports it. See README.md."""
