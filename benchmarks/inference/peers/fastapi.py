"""FastAPI as its docs teach it: the model loaded in the lifespan into ``ml_models``
("Lifespan Events"), a pydantic body, and a plain ``def`` endpoint, which FastAPI runs in its
thread pool, calling ``model.predict`` once per request."""

import os
from contextlib import asynccontextmanager

import joblib
from fastapi import FastAPI
from pydantic import BaseModel, Field

ml_models = {}


@asynccontextmanager
async def lifespan(app: FastAPI):
    ml_models["iris"] = joblib.load(os.environ["IRIS_MODEL"])
    yield
    ml_models.clear()


app = FastAPI(lifespan=lifespan)


class Flower(BaseModel):
    sepal_length: float = Field(gt=0, le=100)
    sepal_width: float = Field(gt=0, le=100)
    petal_length: float = Field(gt=0, le=100)
    petal_width: float = Field(gt=0, le=100)


class Prediction(BaseModel):
    species: str


@app.post("/predict")
def predict(flower: Flower) -> Prediction:
    row = [flower.sepal_length, flower.sepal_width, flower.petal_length, flower.petal_width]
    return Prediction(species=ml_models["iris"].predict([row])[0])
