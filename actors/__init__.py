"""grid's Ray actors: partitions, the router, later streams.

Each actor is a thin shell over a plain class that unit tests drive without Ray.
Actors build on grid's Ray-free core (types, keys, expressions, errors) and never on
grid's client.
"""
