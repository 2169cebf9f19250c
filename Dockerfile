# Optional container image for `retailpulse serve`. Everything in the README works
# without it. Build: docker build -t retailpulse .   Run: docker run -p 8080:8080 retailpulse
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Metadata first, then the package (the store master ships inside it as package data).
COPY setup.cfg pyproject.toml README.md ./
COPY retailpulse ./retailpulse
RUN pip install . \
    && rm -rf /app/build /app/*.egg-info \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin retailpulse

USER retailpulse

EXPOSE 8080

# /healthz answers 200 once the actors and the store master are up. Python is in the
# image already, so no curl is installed for this.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

# Exec form: retailpulse is PID 1 and gets `docker stop`'s SIGTERM, which stops it cleanly.
ENTRYPOINT ["retailpulse"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
