# Multi-stage: build with dev dependencies, run with production ones only, as a non-root user.
# Node 24 is an LTS line (supported until April 2028) on Debian 13 (trixie), the current stable.
FROM node:24-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY wsdl ./wsdl
RUN npm run build

FROM node:24-trixie-slim
ENV NODE_ENV=production PORT=8080 DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY wsdl ./wsdl
COPY bin ./bin
# tini as PID 1: without DATABASE_URL the service starts its own PostgreSQL server (pg_ctl detaches
# it), and a PID 1 must reap the processes it inherits and forward signals.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
# Ready = the database answers and the schema is current (/readyz), not merely "the process runs".
# `worker` serves it on METRICS_PORT (set one for a worker container), `serve` on PORT.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 CMD node -e "fetch('http://127.0.0.1:'+(process.env.METRICS_PORT||process.env.PORT)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["tini", "--", "node", "dist/cli.js"]
CMD ["serve"]
