"""`POST /graphql-unstable`: the GraphQL API the `circleci` CLI (v0.1.x) uses for orbs and namespaces.

The schema is written in SDL (`schema.graphql`) and executed by graphql-core; resolvers are plain
functions of (context, parent, arguments) in `queries.py`, `types.py` and `mutations.py`, bound to
their fields in `schema.py`. `route.py` is the HTTP edge: a token, then parse, validate, execute.
"""
