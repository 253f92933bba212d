#[derive(Debug, clap::Args)]
pub struct ParamsArgs {}
pub fn run(_a: ParamsArgs) -> anyhow::Result<()> { anyhow::bail!("not yet") }
