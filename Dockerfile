# Build the wheel from the sources, then install only the wheel: the runtime image has no source tree (and no
# alembic.ini); what the services read at run time (alert rules, Alembic migrations) ships inside the packages.
# The wheel leaves out what production does not run (the simulator, the benchmarks; pyproject.toml).
# tests/test_wheel.py installs the same wheel into a fresh venv and runs `migrate` and `config-check` from it.
# The console's front-end libraries, from the committed npm lock (as `make console` does locally).
# No secret enters the image: .dockerignore keeps .env, .local (the database, the demo key, the broker's
# generated passwords) and the broker's accounts and certificates out of the context, and only the
# package sources below are copied; every secret comes from the environment at run time.
FROM node:20-slim AS console
WORKDIR /console
COPY resilience/console/package.json resilience/console/package-lock.json ./
# the same files `make console` copies: ECharts, and Swagger UI and ReDoc for /docs and /redoc
RUN npm ci --no-audit --no-fund --loglevel=error && mkdir vendor \
 && cp node_modules/echarts/dist/echarts.esm.min.mjs vendor/echarts.esm.min.js \
 && cp node_modules/echarts/LICENSE vendor/echarts.LICENSE \
 && cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css \
       node_modules/swagger-ui-dist/favicon-32x32.png vendor/ \
 && cp node_modules/swagger-ui-dist/LICENSE vendor/swagger-ui.LICENSE \
 && cp node_modules/redoc/bundles/redoc.standalone.js vendor/ \
 && cp node_modules/redoc/LICENSE vendor/redoc.LICENSE

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY resilience ./resilience
COPY ingest ./ingest
COPY alerts ./alerts
COPY migrations ./migrations
COPY --from=console /console/vendor ./resilience/console/static/vendor
RUN pip wheel --no-cache-dir --no-deps -w /dist .

FROM python:3.11-slim
COPY --from=build /dist/ /dist/
RUN pip install --no-cache-dir /dist/*.whl && rm -rf /dist
WORKDIR /app
# the scheduler writes the broker's accounts here (a named volume takes this folder's owner)
RUN mkdir /mosquitto-accounts && chown nobody /mosquitto-accounts
USER nobody
ENTRYPOINT ["resilience"]
