//! `signoff audit replay | verify | export` (being written).

/// The `signoff audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {}

pub async fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {}
}
