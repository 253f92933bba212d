//! Placeholder until the owning crate lands (replaced in the same session).

#[derive(Debug, clap::Args)]
pub struct DpArgs {}

pub fn run(_args: DpArgs) -> anyhow::Result<()> {
    anyhow::bail!("this command is not built yet")
}
