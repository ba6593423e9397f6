"""grid's actors: partitions, the router, stream actors and transaction ledgers.

Each is a plain class that unit tests drive without Ray; ``launch`` is the one place
that makes them Ray actors, and ``local`` runs them all in one process. They reach
each other through an ``ActorSystem`` (``system``) and the typed interfaces of
``grid._services``. Actors build on grid's Ray-free core (types, keys, expressions,
errors) and never on grid's client.
"""
