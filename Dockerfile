# syntax=docker/dockerfile:1
# Three images: `operator` (the controller), `worker` (the node-llama-cpp inference server;
# `worker` uses node-llama-cpp's CUDA 12 prebuilt binaries on an NVIDIA CUDA runtime base,
# `worker-cpu` is the CPU variant for dev clusters) and `router` (spec.router's request path, no
# model runtime). Every build step is scripts/image-build.sh,
# which scripts/images.sh (`npm run images`: operator, worker-cpu and router without a container daemon,
# distroless-style, see docs/images.md) runs too, so both hold the same /app.
ARG NODE_IMAGE=docker.io/library/node:24.22.3-bookworm-slim
ARG CUDA_IMAGE=docker.io/nvidia/cuda:12.8.1-runtime-ubuntu24.04

FROM ${NODE_IMAGE} AS operator-build
WORKDIR /build
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts/image-build.sh scripts/
COPY src src
# The worker <-> operator contract (metric names, flags): the one file of the worker package src/ imports.
COPY worker/src/contract.ts worker/src/contract.ts
# The router <-> operator contract (flags, ports, metric names): the one file of the router package src/ imports.
COPY router/src/contract.ts router/src/contract.ts
RUN bash scripts/image-build.sh operator /out

FROM ${NODE_IMAGE} AS operator
ENV NODE_ENV=production
WORKDIR /app
COPY --from=operator-build /out/app /app
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["node", "--max-semi-space-size=2", "/app/dist/src/cli.js"]
CMD ["run"]

FROM ${NODE_IMAGE} AS worker-build
WORKDIR /build
COPY scripts/image-build.sh scripts/
COPY worker worker
RUN bash scripts/image-build.sh worker /out

FROM ${NODE_IMAGE} AS worker-cpu-build
WORKDIR /build
COPY scripts/image-build.sh scripts/
COPY worker worker
RUN bash scripts/image-build.sh worker-cpu /out

FROM ${NODE_IMAGE} AS router-build
WORKDIR /build
COPY scripts/image-build.sh scripts/
COPY router router
# The worker <-> router contract (metric labels, error types): the one file of the worker package
# the router imports (with its package.json, which makes it an ES module for tsc).
COPY worker/package.json worker/package.json
COPY worker/src/contract.ts worker/src/contract.ts
RUN bash scripts/image-build.sh router /out

FROM ${NODE_IMAGE} AS node-runtime

FROM ${CUDA_IMAGE} AS worker
ENV NODE_ENV=production
COPY --from=node-runtime /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=worker-build /out/app /app
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "/app/dist/src/main.js"]

FROM ${NODE_IMAGE} AS worker-cpu
ENV NODE_ENV=production
WORKDIR /app
COPY --from=worker-cpu-build /out/app /app
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "/app/dist/src/main.js"]

FROM ${NODE_IMAGE} AS router
ENV NODE_ENV=production
WORKDIR /app
COPY --from=router-build /out/app /app
USER 65532:65532
EXPOSE 8080 9090 9100
ENTRYPOINT ["node", "/app/dist/router/src/main.js"]
