"""The apps benchmarks/graphql/run serves: one Strawberry schema (``schema.py``) mounted by
Bastion, by FastAPI (``strawberry.fastapi.GraphQLRouter``) and by Litestar
(``strawberry.litestar.make_graphql_controller``), each as its documentation shows."""
