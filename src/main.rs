use loopsmith::app;
use loopsmith::config::Config;

#[actix_web::main]
async fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => fail(&err.to_string()),
    };
    log::info!(
        "starting loopsmith {} with {config:?}",
        env!("CARGO_PKG_VERSION")
    );
    let running = match app::prepare(config).and_then(app::Prepared::listen) {
        Ok(running) => running,
        Err(err) => fail(&err.to_string()),
    };
    if let Err(err) = running.wait().await {
        fail(&format!("server error: {err}"));
    }
    log::info!("stopped");
}

fn fail(message: &str) -> ! {
    log::error!("{message}");
    eprintln!("loopsmith: {message}");
    std::process::exit(1);
}
