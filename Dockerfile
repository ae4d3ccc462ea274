FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline pipeline
COPY workers workers
COPY webhooks webhooks
COPY db db
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["wapipe", "api", "--host", "0.0.0.0", "--port", "8000"]
