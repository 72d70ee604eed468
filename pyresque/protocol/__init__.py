"""Sans-IO resque protocol: key names, value encodings and command plans.

Nothing in this package imports redis or asyncio. It is the only place in pyresque
that spells a key name or encodes a stored value.
"""
