"""Run a Bastion app on AWS Lambda: API Gateway (REST and HTTP APIs), ALB, function URLs.

from bastion.serverless import lambda_handler
handler = lambda_handler(app)
"""

from bastion.serverless._events import EventError
from bastion.serverless._lambda import LambdaHandler, lambda_handler

__all__ = ["EventError", "LambdaHandler", "lambda_handler"]
