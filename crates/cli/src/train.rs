//! Placeholder until the owning crate lands (replaced in the same session).

#[derive(Debug, clap::Args)]
pub struct TrainArgs {}

pub fn run(_args: TrainArgs) -> anyhow::Result<()> {
    anyhow::bail!("this command is not built yet")
}
