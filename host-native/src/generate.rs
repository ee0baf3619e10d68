//! `smoothcast generate completions|man`: files made from the clap definition itself, so the
//! packaged completions and man page can never drift from the options the binary takes. The
//! Debian package (`host-native/packaging/build-deb.sh`) runs these against the binary it
//! ships; hidden from `--help`, as they are for packagers.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap_complete::Shell;

#[derive(clap::Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub what: What,
}

#[derive(clap::Subcommand)]
pub enum What {
    /// Shell completion script for SHELL, on stdout or into --out-dir as the shell expects
    /// the file named (bash: smoothcast, zsh: _smoothcast, fish: smoothcast.fish).
    Completions {
        shell: Shell,
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// The man page (roff): smoothcast.1 and one page per subcommand (smoothcast-serve.1 ...)
    /// into --out-dir, or the main page alone on stdout.
    Man {
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

/// Writes what `args` asks for; `cmd` is the whole CLI (`Cli::command()`).
pub fn run(cmd: clap::Command, args: &GenerateArgs) -> Result<()> {
    let name = cmd.get_name().to_string();
    match &args.what {
        What::Completions { shell, out_dir } => {
            let mut cmd = cmd;
            match out_dir {
                Some(dir) => {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                    let path = clap_complete::generate_to(*shell, &mut cmd, &name, dir)
                        .with_context(|| format!("writing completions into {}", dir.display()))?;
                    println!("{}", path.display());
                }
                None => {
                    clap_complete::generate(*shell, &mut cmd, &name, &mut std::io::stdout());
                }
            }
        }
        What::Man { out_dir } => match out_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                man_pages(cmd, dir)?;
            }
            None => {
                let mut out = Vec::new();
                clap_mangen::Man::new(cmd).render(&mut out)?;
                std::io::stdout().write_all(&out)?;
            }
        },
    }
    Ok(())
}

/// The main page and one per visible subcommand, named as `man smoothcast-serve` finds them.
fn man_pages(cmd: clap::Command, dir: &Path) -> Result<()> {
    let cmd = cmd.disable_help_subcommand(true);
    let mut pages = vec![(cmd.get_name().to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{}-{}", cmd.get_name(), sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(page).render(&mut out)?;
        std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> clap::Command {
        crate::cli::command()
    }

    #[test]
    fn man_pages_name_every_visible_subcommand() {
        let dir = std::env::temp_dir().join(format!("smoothcast-man-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        man_pages(cli(), &dir).expect("man pages");
        let main = std::fs::read_to_string(dir.join("smoothcast.1")).expect("smoothcast.1");
        assert!(main.contains(".TH smoothcast 1"), "{main}");
        for sub in ["serve", "package", "api"] {
            assert!(main.contains(sub), "{sub} missing from the main page");
            let page = std::fs::read_to_string(dir.join(format!("smoothcast-{sub}.1")))
                .expect("subcommand page");
            assert!(page.contains(&format!("smoothcast-{sub}")), "{page}");
        }
        let serve = std::fs::read_to_string(dir.join("smoothcast-serve.1")).expect("serve");
        assert!(serve.contains("demo"), "--demo missing: {serve}");
        assert!(
            !dir.join("smoothcast-generate.1").exists(),
            "hidden stays hidden"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn completions_know_the_subcommands_and_options() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cli(), "smoothcast", &mut out);
            let text = String::from_utf8(out).expect("utf-8");
            // fish names long options without dashes (`-l demo`).
            for word in ["serve", "package", "demo", "webroot"] {
                assert!(text.contains(word), "{shell}: {word} missing");
            }
        }
    }
}
