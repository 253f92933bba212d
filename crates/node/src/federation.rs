//! What every participant of a federation shares: the trust anchors, the HE
//! context and the committee's public key, the directory of protocol
//! signing keys, and the round plan (the DP plan and the round
//! configuration every client checks).

use std::sync::Arc;

use fedhe_dp::planner::{Plan, PlanInput, plan_ddgauss};
use fedhe_he::{HeContext, PublicKey};
use fedhe_keys::dkg::{self, CeremonyInit};
use fedhe_keys::pki::Role;
use fedhe_protocols::round::Roster;
use fedhe_protocols::{FederationId, NoiseRatio, ParticipantId, RoundConfig, VerifyingKey};

use crate::sim::{DpTarget, gamma_without_noise};
use crate::tls::Trust;

/// Errors assembling a federation or a plan.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FederationError {
    /// The roster or transcript does not describe a runnable federation.
    #[error("{0}")]
    Invalid(String),
    /// Key ceremony files.
    #[error(transparent)]
    Keys(#[from] fedhe_keys::Error),
    /// HE.
    #[error(transparent)]
    He(#[from] fedhe_he::Error),
    /// DP planning.
    #[error(transparent)]
    Dp(#[from] fedhe_dp::Error),
    /// A key on the roster.
    #[error(transparent)]
    Protocol(#[from] fedhe_protocols::Error),
    /// A setting out of range.
    #[error(transparent)]
    Sim(Box<crate::sim::SimError>),
    /// Protocol roster.
    #[error(transparent)]
    Round(#[from] fedhe_protocols::round::RoundError),
}

/// The 16-byte federation id of a federation name: BLAKE3 of a domain tag
/// and the name, truncated.
pub fn federation_id(name: &str) -> FederationId {
    let mut h = blake3::Hasher::new();
    h.update(b"fedhe federation id v1\0");
    h.update(name.as_bytes());
    let d = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&d.as_bytes()[..16]);
    FederationId(id)
}

/// A federation as every participant sees it.
#[derive(Debug)]
pub struct Federation {
    /// Name (as in the roster).
    pub name: String,
    /// Protocol id.
    pub id: FederationId,
    /// CA and roster.
    pub trust: Trust,
    /// HE context of the committee's key.
    pub ctx: Arc<HeContext>,
    /// The committee's public key.
    pub public_key: Arc<PublicKey>,
    /// Protocol roster: every participant's signing key and roles.
    pub roster: Arc<Roster>,
    /// The server.
    pub server: ParticipantId,
    /// The server's signing key.
    pub server_key: VerifyingKey,
    /// Clients on the roster.
    pub clients: usize,
}

fn key_of(e: &fedhe_keys::pki::RosterEntry) -> Result<VerifyingKey, FederationError> {
    let k = e.key.as_ref().ok_or_else(|| {
        FederationError::Invalid(format!(
            "the roster lists participant {} ({}) without its key: re-issue its certificate with `fedhe keys cert issue`",
            e.id, e.role
        ))
    })?;
    Ok(VerifyingKey::from_bytes(&k.0)?)
}

impl Federation {
    /// Assembles a federation from its trust anchors, the HE context and
    /// public key, and the committee (`(Shamir index, participant)`).
    pub fn new(
        name: &str,
        trust: Trust,
        ctx: Arc<HeContext>,
        public_key: Arc<PublicKey>,
        committee: &[(u16, u32)],
    ) -> Result<Self, FederationError> {
        if trust.roster.body.federation != name {
            return Err(FederationError::Invalid(format!(
                "the roster is for federation {:?}, the configuration names {name:?}",
                trust.roster.body.federation
            )));
        }
        let mut roster = Roster::new();
        let mut server = None;
        let mut clients = 0;
        for e in &trust.roster.body.participants {
            let id = ParticipantId(e.id);
            match e.role {
                Role::Server => {
                    if server.is_some() {
                        return Err(FederationError::Invalid(
                            "the roster lists more than one server".into(),
                        ));
                    }
                    let k = key_of(e)?;
                    roster.add_server(id, k)?;
                    server = Some((id, k));
                }
                Role::Client => {
                    roster.add_client(id, key_of(e)?)?;
                    clients += 1;
                }
                Role::Committee | Role::Admin => {}
            }
        }
        for &(index, participant) in committee {
            let e = trust
                .roster
                .body
                .participants
                .iter()
                .find(|e| e.id == participant && e.role == Role::Committee)
                .ok_or_else(|| {
                    FederationError::Invalid(format!(
                        "committee member {index} (participant {participant}) is not on the roster as committee"
                    ))
                })?;
            roster.add_member(ParticipantId(participant), index, key_of(e)?)?;
        }
        let (server, server_key) =
            server.ok_or_else(|| FederationError::Invalid("the roster lists no server".into()))?;
        Ok(Self {
            name: name.into(),
            id: federation_id(name),
            trust,
            ctx,
            public_key,
            roster: Arc::new(roster),
            server,
            server_key,
            clients,
        })
    }

    /// From the ceremony transcript (verified, with every member's
    /// committee certificate checked against the CA and roster).
    pub fn from_transcript(
        name: &str,
        trust: Trust,
        transcript_file: &str,
        transcript: &[u8],
    ) -> Result<Self, FederationError> {
        let (t, _) = dkg::verify_transcript(
            transcript_file,
            transcript,
            Some((&trust.ca, &trust.roster)),
        )?;
        let (_, ctx) = CeremonyInit::from_file(transcript_file, &t.ceremony.to_file())?;
        let pk = PublicKey::from_bytes(&ctx, &t.public_key.0)?;
        if pk.digest() != t.key.key_id.0 {
            return Err(FederationError::Invalid(format!(
                "{transcript_file}: the public key is not the key the transcript records"
            )));
        }
        let committee: Vec<(u16, u32)> = t
            .ceremony
            .committee
            .iter()
            .map(|e| (e.index, e.participant))
            .collect();
        Self::new(name, trust, ctx, Arc::new(pk), &committee)
    }
}

/// The round configuration every round of a run uses, and the DP plan
/// behind it.
#[derive(Clone, Debug)]
pub struct RoundPlan {
    /// What `RoundOpen` carries.
    pub config: RoundConfig,
    /// The DP plan (None without noise).
    pub plan: Option<Plan>,
    /// The most contributions a round accepts.
    pub max_per_round: usize,
}

/// The most contributions a round of Poisson sampling at `rate` from
/// `population` takes: the mean plus six standard deviations (and 6), at
/// most the HE parameters' contributor limit.
pub fn max_per_round(ctx: &HeContext, population: usize, rate: f64, min_clients: usize) -> usize {
    crate::sim::max_per_round(crate::sim::Sampling::Poisson { rate }, population)
        .min(ctx.params().max_contributors as usize)
        .max(min_clients)
}

/// Plans the rounds of a run: DDGauss for `(ε, δ)` over `rounds` rounds
/// sampled at `rate` with at most `max_n` contributions a round, or
/// (without DP) the granularity that keeps such a sum from wrapping.
#[expect(clippy::too_many_arguments, reason = "the plan's inputs, each named")]
pub fn plan_rounds(
    ctx: &HeContext,
    max_n: usize,
    rate: f64,
    min_clients: usize,
    dim: usize,
    clip: f64,
    bits: u32,
    dp: Option<DpTarget>,
    rounds: u64,
    deadline_millis: u64,
) -> Result<RoundPlan, FederationError> {
    let max_bits = ctx.params().plaintext_bits;
    let plan = match dp {
        Some(t) => Some(plan_ddgauss(&PlanInput::new(
            max_n as u64,
            min_clients as u64,
            dim,
            clip,
            bits,
            t.epsilon,
            t.delta,
            rounds,
            rate,
            max_bits,
        ))?),
        None => None,
    };
    let (gamma, noise) = match &plan {
        Some(p) => (
            p.gamma,
            NoiseRatio {
                num: p.noise_sigma2.num(),
                den: p.noise_sigma2.den(),
            },
        ),
        None => (
            gamma_without_noise(max_n, clip, dim.next_power_of_two(), bits)
                .map_err(|e| FederationError::Sim(Box::new(e)))?,
            NoiseRatio { num: 0, den: 1 },
        ),
    };
    Ok(RoundPlan {
        config: RoundConfig {
            clip,
            gamma,
            bits: bits as u8,
            noise,
            min_contributors: min_clients as u32,
            deadline_millis,
        },
        plan,
        max_per_round: max_n,
    })
}
