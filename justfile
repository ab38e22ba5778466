# signoff developer commands; every recipe is a thin wrapper over `cargo xtask`,
# so everything here also works without `just` installed.

# list the recipes
default:
    @just --list

# run the local dev stack (`signoff dev` against a local nats-server)
run *ARGS:
    cargo xtask run {{ARGS}}

# cargo test --workspace against a local nats-server
test *ARGS:
    cargo xtask test {{ARGS}}

# cargo fmt --check and clippy -D warnings
lint:
    cargo xtask lint

# format all code
fmt:
    cargo fmt --all

# lint, then test (what CI runs)
ci:
    cargo xtask ci

# same as ci
verify: ci

# install/locate nats-server and print its path
nats-server:
    cargo xtask nats-server

# regenerate the committed JSON Schemas
bless-schemas *ARGS:
    cargo xtask bless-schemas {{ARGS}}
