//! The `holdfast` command line.

use std::io::{IsTerminal, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use secrecy::SecretString;

mod audit_cmd;
mod backup_cmd;
mod trace_cmd;

use crate::clock::Env;
use crate::config::{Config, LogFormat};
use crate::identity::Role;
use crate::identity::users::{self, NewUser};
use crate::store::{Store, run_migrations};
use crate::web::{self, AppState};

#[derive(Parser, Debug)]
#[command(
    name = "holdfast",
    version,
    about = "Holdfast: a self-hosted CRM whose client base stays the company's"
)]
pub struct Cli {
    /// Configuration file (default: ./holdfast.toml when it exists).
    #[arg(long, global = true, env = "HOLDFAST_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (creates the data directory, database and certificate on first run).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Prepare the data directory, database and TLS certificate, and print the
    /// one-time link that sets the first owner's password.
    Init,
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The tamper-evident audit log: verify it, checkpoint it.
    Audit {
        #[command(subcommand)]
        command: audit_cmd::AuditCommand,
    },
    /// Hardware keys: check an attestation, break-glass enrollment codes.
    Key {
        #[command(subcommand)]
        command: crate::keys::cli::KeyCommand,
    },
    /// Which export a leaked file, seed email or seed phone came from: the
    /// export, the user and the time. Exits with 3 when nothing matches.
    Trace(trace_cmd::TraceArgs),
    /// Encrypted backups: run, list, verify, restore, drill, prune.
    Backup {
        #[command(subcommand)]
        command: backup_cmd::BackupCommand,
    },
    /// Load realistic demo data: users in two teams, clients with timelines and deals.
    Demo {
        /// How many clients to generate.
        #[arg(long, default_value_t = 2000)]
        clients: usize,
        /// Seed for the generator (same seed, same data).
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Password given to every demo user (read from standard input when absent).
        #[arg(long, env = "HOLDFAST_DEMO_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user; the team is created when it is new.
    Add {
        #[arg(long)]
        username: String,
        /// owner, admin, manager or sales.
        #[arg(long)]
        role: String,
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// The address security notices (alerts) are e-mailed to.
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Disable a user and end all of their sessions.
    Disable {
        #[arg(long)]
        username: String,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // One TLS provider for the whole process, for clients that use the default
    // (`holdfast key enroll/login`); the checkpoint webhook brings its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<audit_cmd::VerifyFailed>().is_some() => ExitCode::from(2),
        Err(e) if e.downcast_ref::<trace_cmd::NoMatch>().is_some() => {
            eprintln!("no export matches");
            ExitCode::from(3)
        }
        // `holdfast user list | head`: the reader left; that is not a failure.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            crate::keys::cli::exit_code(&e).unwrap_or(ExitCode::FAILURE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    init_logging(&config);
    let env = Env::system();
    match cli.command {
        Command::Serve => actix_web::rt::System::new().block_on(serve(config, env)),
        Command::Migrate => {
            let store = open_store(&config)?;
            let mut conn = store.conn()?;
            let applied = run_migrations(&mut conn)?;
            println!("database is up to date ({applied} migrations applied now)");
            Ok(())
        }
        Command::Init => {
            let store = open_store(&config)?;
            if !config.server.plain_http {
                let tls = web::tls::load(&config)?;
                println!("TLS certificate SHA-256 fingerprint: {}", tls.fingerprint);
            }
            bootstrap(&config, &store, &env)?;
            crate::keys::cli::init_enrollment(&config, &store, &env)?;
            Ok(())
        }
        Command::User { command } => user_command(&config, &env, command),
        Command::Audit { command } => audit_cmd::run(&config, &env, command),
        Command::Trace(args) => trace_cmd::run(&config, &env, args),
        Command::Key { command } => crate::keys::cli::run(&config, &env, command),
        Command::Backup { command } => backup_cmd::run(&config, &env, command),
        Command::Demo {
            clients,
            seed,
            password,
        } => {
            let store = open_store(&config)?;
            let password = match password {
                Some(p) => SecretString::from(p),
                None => read_password_stdin()?,
            };
            let summary = crate::demo::load(&store, &env, clients, seed, &password)?;
            println!("{summary}");
            Ok(())
        }
    }
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let json = match config.log.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests) is harmless; ignore it.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    crate::files::private_dir(dir).with_context(|| format!("creating {}", dir.display()))
}

pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    ensure_data_dir(&config.data_dir)?;
    Ok(Store::open(
        &config.database_url(),
        config.database.pool_size,
    )?)
}

/// On a fresh installation: the first owner account and a one-time set-up link.
pub fn bootstrap(config: &Config, store: &Store, env: &Env) -> anyhow::Result<()> {
    let mut conn = store.conn()?;
    let owners = users::list(&mut conn)?
        .into_iter()
        .filter(|u| u.role == Role::Owner)
        .collect::<Vec<_>>();
    if owners.iter().any(|u| u.has_password) {
        return Ok(());
    }
    let owner = match owners.into_iter().next() {
        Some(u) => u,
        None => users::add(
            &mut conn,
            env,
            NewUser {
                username: "owner".into(),
                display_name: Some("Owner".into()),
                role: Role::Owner,
                team: None,
                password: None,
            },
        )?,
    };
    let code = users::issue_setup_token(&mut conn, env, &owner.id, 24)?;
    println!(
        "First run: set the password of owner account `{}` (link valid 24 hours, works once):\n  {}/setup?code={code}",
        owner.username,
        config.base_url()
    );
    Ok(())
}

async fn serve(mut config: Config, env: Env) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let listener = TcpListener::bind(config.server.listen)
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    // With port 0 the system picks one; links must show the real address.
    config.server.listen = listener.local_addr()?;
    let tls = if config.server.plain_http {
        tracing::warn!(
            "serving plain HTTP (server.plain_http = true): only safe behind a TLS-terminating reverse proxy"
        );
        None
    } else {
        let tls = web::tls::load(&config)?;
        if tls.generated {
            println!(
                "Using a self-signed certificate. SHA-256 fingerprint:\n  {}",
                tls.fingerprint
            );
        }
        Some(tls.config)
    };
    bootstrap(&config, &store, &env)?;
    // Like the set-up link: until an owner has a key, every start prints a code.
    crate::keys::cli::init_enrollment(&config, &store, &env)?;
    println!("Holdfast is listening on {}", config.base_url());
    let state = AppState::new(config, store, env).await?;
    web::run(state, listener, tls).await?;
    Ok(())
}

fn read_password_stdin() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin().read_to_string(&mut line)?;
    let pw = line.lines().next().unwrap_or("").to_string();
    if pw.is_empty() {
        bail!("no password on standard input");
    }
    Ok(SecretString::from(pw))
}

fn user_command(config: &Config, env: &Env, command: UserCommand) -> anyhow::Result<()> {
    let store = open_store(config)?;
    let mut conn = store.conn()?;
    match command {
        UserCommand::Add {
            username,
            role,
            team,
            display_name,
            email,
            password_stdin,
        } => {
            let role: Role = role.parse()?;
            // Checked before the account exists, so a bad address adds nothing.
            let email = email.as_deref().map(users::valid_email).transpose()?;
            let password = if password_stdin {
                Some(read_password_stdin()?)
            } else {
                None
            };
            let user = users::add(
                &mut conn,
                env,
                NewUser {
                    username,
                    display_name,
                    role,
                    team,
                    password,
                },
            )?;
            if let Some(e) = &email {
                users::set_email(&mut conn, env, &user.id, Some(e))?;
            }
            audit_cli(
                &mut conn,
                env,
                "user.add",
                &user.id,
                serde_json::json!({ "role": user.role, "team": user.team, "email_set": email.is_some() }),
            )?;
            println!(
                "added {} ({}){}",
                user.username,
                user.role,
                user.team.map(|t| format!(", team {t}")).unwrap_or_default()
            );
            if !user.has_password {
                let code = users::issue_setup_token(&mut conn, env, &user.id, 72)?;
                println!(
                    "set-up link (valid 72 hours): {}/setup?code={code}",
                    config.base_url()
                );
            }
        }
        UserCommand::List => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:<24} {:<8} {:<16} {:<8}",
                "USERNAME", "ROLE", "TEAM", "STATE"
            )?;
            for u in users::list(&mut conn)? {
                let state = if u.disabled {
                    "disabled"
                } else if u.has_password {
                    "active"
                } else {
                    "no password"
                };
                let team = u.team.unwrap_or_default();
                writeln!(
                    out,
                    "{:<24} {:<8} {:<16} {:<8}",
                    u.username, u.role, team, state
                )?;
            }
        }
        UserCommand::Disable { username } => {
            let user = users::disable(&mut conn, env, &username)?;
            audit_cli(
                &mut conn,
                env,
                "user.disable",
                &user.id,
                serde_json::json!({}),
            )?;
            println!(
                "disabled {}; all of their sessions have ended",
                user.username
            );
        }
    }
    Ok(())
}

fn audit_cli(
    conn: &mut crate::store::DbConn,
    env: &Env,
    action: &'static str,
    user_id: &str,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    let who = crate::audit::Who::console();
    crate::audit::record(
        conn,
        env,
        &crate::audit::RequestMeta::default(),
        &crate::audit::Event::new(action, crate::audit::Outcome::Ok)
            .by(who)
            .on("user", [user_id.to_string()])
            .detail(detail),
    )?;
    Ok(())
}
