//! Placeholder until the owning crate lands (replaced in the same session).

#[derive(Debug, clap::Args)]
pub struct PrivacyArgs {}

pub fn run(_args: PrivacyArgs) -> anyhow::Result<()> {
    anyhow::bail!("this command is not built yet")
}
