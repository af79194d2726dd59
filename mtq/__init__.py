"""mtq: batch machine translation over RabbitMQ with micro-batched beam search."""

__version__ = "0.1.0"
