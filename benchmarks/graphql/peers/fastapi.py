"""FastAPI with Strawberry's GraphQLRouter, as Strawberry's FastAPI guide mounts it."""

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from strawberry.fastapi import GraphQLRouter

from .schema import schema

app = FastAPI()
app.include_router(GraphQLRouter(schema), prefix="/graphql")


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return "Hello, World!"
