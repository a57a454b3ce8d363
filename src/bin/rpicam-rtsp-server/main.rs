// SPDX-License-Identifier: MPL-2.0
//! `rpicam-rtsp-server`: serves the camera as H.264 over RTSP at `rtsp://HOST:PORT/MOUNT`.
//!
//! One capture is shared by every client (the media factory is shared): the camera and the
//! encoder start with the first client and stop when the last one leaves. By default it listens
//! on 127.0.0.1 only; `--address 0.0.0.0` opens it to the network, and then `--user` and
//! `--password` (RTSP basic authentication) should be set; without them a warning is printed.
//!
//! The elements of this crate (`rpicamsrc2`, `rpih264enc`) are registered into the process, so
//! no GST_PLUGIN_PATH is needed.
//!
//! Exit status: 0 after SIGINT/SIGTERM, 1 for a server error (address or port not usable,
//! launch string that does not parse), 2 for bad command-line options.

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use clap::Parser;
use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::gio;
use gst_rtsp_server::prelude::*;

mod camera;
mod factory;
mod hardening;
mod launch;

/// Frame size and rate of the default pipeline.
const DEFAULT_WIDTH: u32 = 1280;
const DEFAULT_HEIGHT: u32 = 720;
const DEFAULT_FRAMERATE: u32 = 30;

/// Serve a Raspberry Pi camera as H.264 over RTSP (one capture shared by all clients).
#[derive(Debug, Parser)]
#[command(name = "rpicam-rtsp-server", version)]
struct Args {
    /// Address to listen on: 127.0.0.1 (this machine only), 0.0.0.0 or :: (all interfaces),
    /// or one interface's address.
    #[arg(long, default_value = "127.0.0.1")]
    address: IpAddr,

    /// TCP port for RTSP (1-65535; 0 = any free port, printed at start).
    #[arg(long, default_value_t = 8554)]
    port: u16,

    /// Path of the stream in the URL.
    #[arg(long, default_value = "/cam", value_parser = parse_mount)]
    mount: String,

    /// Camera for the default pipeline (rpicamsrc2 camera-name, e.g. sim:imx477); unset = the
    /// first camera.
    #[arg(long, conflicts_with = "launch")]
    camera_name: Option<String>,

    /// Frame width of the default pipeline.
    #[arg(long, default_value_t = DEFAULT_WIDTH, conflicts_with = "launch",
          value_parser = clap::value_parser!(u32).range(16..=4096))]
    width: u32,

    /// Frame height of the default pipeline.
    #[arg(long, default_value_t = DEFAULT_HEIGHT, conflicts_with = "launch",
          value_parser = clap::value_parser!(u32).range(16..=4096))]
    height: u32,

    /// Frames per second of the default pipeline.
    #[arg(long, default_value_t = DEFAULT_FRAMERATE, conflicts_with = "launch",
          value_parser = clap::value_parser!(u32).range(1..=240))]
    framerate: u32,

    /// H.264 bitrate of the default pipeline, bits/s (0 = chosen from size and rate).
    #[arg(long, default_value_t = 0, conflicts_with = "launch")]
    bitrate: u32,

    /// The low-latency configuration of the default pipeline (rpicam-vid --low-latency's
    /// goals): no B-frames (baseline), a leaky one-frame queue before the encoder, an IDR with
    /// SPS/PPS every half second, no parser, RTP aggregation that never waits, and packets sent
    /// as soon as a frame is encoded (network sinks with sync=false). See docs/latency.md.
    #[arg(long, conflicts_with_all = ["launch", "lores_mount", "record"])]
    low_latency: bool,

    /// Pipeline to serve instead of the default one: gst-launch-1.0 syntax, with the RTP
    /// payloader named pay0 (e.g. "rpicamsrc2 ! rpih264enc ! h264parse ! rtph264pay name=pay0").
    #[arg(long)]
    launch: Option<String>,

    /// User name clients must give (RTSP basic authentication); needs a password
    /// (--password-file, RPICAM_RTSP_PASSWORD or --password).
    #[arg(long, requires = "secret")]
    user: Option<String>,

    /// Password for --user. Prefer --password-file or the RPICAM_RTSP_PASSWORD environment
    /// variable: a command line is visible to every user of the machine (ps).
    #[arg(
        long,
        env = "RPICAM_RTSP_PASSWORD",
        hide_env_values = true,
        requires = "user",
        group = "secret"
    )]
    password: Option<String>,

    /// File holding the password for --user (its first line). It must be readable by its
    /// owner only (mode 0600 or 0400), else the server refuses to start.
    #[arg(long, requires = "user", group = "secret", conflicts_with = "password")]
    password_file: Option<std::path::PathBuf>,

    /// Also serve the camera's lores stream (a second, smaller H.264 stream of the same
    /// capture) at this path, e.g. /cam/lores. The camera is then opened once at start and runs
    /// until the server stops.
    #[arg(long, value_parser = parse_mount, conflicts_with = "launch")]
    lores_mount: Option<String>,

    /// Frame width of the lores stream (at most --width).
    #[arg(long, default_value_t = 320, conflicts_with = "launch",
          value_parser = clap::value_parser!(u32).range(16..=4096))]
    lores_width: u32,

    /// Frame height of the lores stream (at most --height).
    #[arg(long, default_value_t = 240, conflicts_with = "launch",
          value_parser = clap::value_parser!(u32).range(16..=4096))]
    lores_height: u32,

    /// Record the main stream to FILE (fragmented MP4, readable up to its last second even if
    /// the server is killed; finished properly on SIGINT/SIGTERM) while serving. The camera is
    /// then opened once at start and runs until the server stops.
    #[arg(long, value_name = "FILE", conflicts_with = "launch")]
    record: Option<std::path::PathBuf>,

    /// Seconds a connection may stay without a session and without completing a request
    /// (a half-sent request, or nothing) before the server closes it (1-3600).
    #[arg(long, default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout: u64,
}

/// Locks `m`, also after a panic on another thread (the binary's shared data, counters, maps
/// of times and weak references, is valid at any time). The binary cannot use the library's
/// `crate::sync::lock`, which is private to it.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `--mount` must be a URL path: starts with '/', no spaces, not just "/".
fn parse_mount(s: &str) -> Result<String, String> {
    if !s.starts_with('/') || s.len() < 2 {
        return Err(format!("mount '{s}' must be a path like /cam"));
    }
    if s.chars().any(|c| c.is_whitespace() || c == '?' || c == '#') {
        return Err(format!("mount '{s}' must not contain spaces, '?' or '#'"));
    }
    Ok(s.to_string())
}

/// The default pipeline: the camera at the requested size and rate, H.264 with SPS/PPS on
/// every key frame so clients can join at any time (`launch.rs`; `--low-latency` for the
/// low-latency configuration).
fn default_launch(args: &Args) -> String {
    launch::launch(&launch::Mount {
        camera_name: args.camera_name.as_deref(),
        width: args.width,
        height: args.height,
        framerate: args.framerate,
        bitrate: args.bitrate,
        low_latency: args.low_latency,
    })
}

/// Server errors, each naming the bad value.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("cannot initialise GStreamer: {0}")]
    Init(glib::Error),
    #[error("cannot register the rpicamsrc2 plugin: {0}")]
    Register(glib::BoolError),
    #[error("launch string does not parse: {error}\n  launch: {launch}")]
    Launch { launch: String, error: glib::Error },
    #[error(
        "launch string has no element named pay0 (the RTP payloader the server streams, e.g. \
         'rtph264pay name=pay0')\n  launch: {0}"
    )]
    NoPayloader(String),
    #[error("cannot listen on {address} port {port}: {error}{hint}")]
    Listen {
        address: IpAddr,
        port: u16,
        error: glib::Error,
        hint: &'static str,
    },
    #[error("password file {path}: {reason}")]
    PasswordFile { path: String, reason: String },
    #[error("{0}")]
    Camera(String),
    #[error("cannot start the RTSP server: {0}")]
    Server(&'static str),
}

/// Checks that `launch` parses and has `pay0`, as the media factory would build it later (on
/// the first client, where errors would only reach the client).
fn check_launch(launch: &str) -> Result<(), Error> {
    let desc = format!("( {launch} )");
    let bad = |error| Error::Launch {
        launch: launch.to_string(),
        error,
    };
    let mut ctx = gst::ParseContext::new();
    let element = gst::parse::launch_full(&desc, Some(&mut ctx), gst::ParseFlags::FATAL_ERRORS)
        .map_err(|e| {
            // Missing elements: name them (the parse error only says "no element X").
            let missing = ctx.missing_elements();
            if missing.is_empty() || !e.matches(gst::ParseError::NoSuchElement) {
                bad(e)
            } else {
                bad(glib::Error::new(
                    gst::ParseError::NoSuchElement,
                    &format!(
                        "no such element: {} (not installed, or GST_PLUGIN_PATH does not \
                         include its plugin)",
                        missing.join(", ")
                    ),
                ))
            }
        })?;
    let has_pay0 = element
        .downcast_ref::<gst::Bin>()
        .and_then(|b| b.by_name("pay0"))
        .is_some()
        || element.name() == "pay0";
    let _ = element.set_state(gst::State::Null);
    if has_pay0 {
        Ok(())
    } else {
        Err(Error::NoPayloader(launch.to_string()))
    }
}

/// Reads the password from the first line of `path`, which must be a regular file readable
/// by its owner only (no permission bit for group or others: mode 0600 or 0400).
///
/// Errors: the file cannot be read, is not a regular file, has a group or other permission
/// (the error gives the mode and the chmod that fixes it), or its first line is empty.
fn read_password_file(path: &std::path::Path) -> Result<String, Error> {
    use std::os::unix::fs::PermissionsExt;
    let bad = |reason: String| Error::PasswordFile {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(bad(format!(
            "mode {mode:04o} lets other users read it; it must be 0600 or 0400 \
             (chmod 600 {})",
            path.display()
        )));
    }
    // A password is short: refuse anything large rather than read it.
    if meta.len() > 4096 {
        return Err(bad(format!(
            "{} bytes; a password file holds one line",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if line.is_empty() {
        return Err(bad("the first line (the password) is empty".into()));
    }
    Ok(line.to_string())
}

/// Builds the server, binds the socket and attaches it to the default main context. Returns
/// the port actually bound.
fn start(
    args: &Args,
    launch: &str,
    password: Option<&str>,
    cam: Option<&camera::Camera>,
) -> Result<(gst_rtsp_server::RTSPServer, u16), Error> {
    if cam.is_none() {
        check_launch(launch)?;
    }

    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address(&args.address.to_string());
    server.set_service(&args.port.to_string());

    // One capture for all clients; a new one for a client arriving while it stops. With a
    // camera pipeline of our own (--lores-mount, --record), each mount serves from it.
    let captures = Arc::new(AtomicU32::new(0));
    let low_latency = args.low_latency;
    let make_factory = |launch: &str, fan: Option<Arc<camera::Fanout>>| {
        let factory = factory::SharedFactory::new();
        factory.set_launch(launch);
        let captures = captures.clone();
        factory.connect_media_configure(move |_, media| {
            if low_latency {
                launch::unsync_network_sinks(media);
            }
            let n = captures.fetch_add(1, Ordering::SeqCst) + 1;
            eprintln!("rpicam-rtsp-server: capture {n} started (shared by every client)");
            if let Some(fan) = &fan {
                let src = media
                    .element()
                    .downcast::<gst::Bin>()
                    .ok()
                    .and_then(|b| b.by_name_recurse_up("src"));
                match src {
                    Some(src) => fan.attach(&src),
                    None => eprintln!("rpicam-rtsp-server: error: the mount has no appsrc"),
                }
            }
            media.connect_unprepared(move |_| {
                eprintln!("rpicam-rtsp-server: capture {n} stopped (no clients left)");
            });
        });
        factory
    };
    let mut factories = Vec::new();
    match cam {
        None => factories.push((
            args.mount.clone(),
            make_factory(&format!("( {launch} )"), None),
        )),
        Some(cam) => {
            factories.push((
                args.mount.clone(),
                make_factory(camera::MOUNT_LAUNCH, Some(cam.main.clone())),
            ));
            if let Some(m) = &args.lores_mount {
                factories.push((
                    m.clone(),
                    make_factory(camera::MOUNT_LAUNCH, Some(cam.lores.clone())),
                ));
            }
        }
    }

    let activity = Arc::new(hardening::Activity::default());
    let guard = match (&args.user, password) {
        (Some(user), Some(password)) => {
            let basic = gst_rtsp_server::RTSPAuth::make_basic(user, password);
            let guard = hardening::Guard::new(&basic, activity.clone());
            let auth = hardening::Auth::new(guard.clone());
            let token = gst_rtsp_server::RTSPToken::builder()
                .field(gst_rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
                .build();
            auth.add_basic(&basic, &token);
            server.set_auth(Some(&auth));
            for (_, factory) in &factories {
                factory.add_role_from_structure(
                    &gst::Structure::builder("viewer")
                        .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                        .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                        .build(),
                );
            }
            Some(guard)
        }
        _ => None,
    };

    let act = activity.clone();
    server.connect_client_connected(move |_, client| {
        eprintln!("rpicam-rtsp-server: client connected");
        hardening::watch_client(client, guard.clone(), act.clone());
    });
    // Close connections that hold no session and complete no request (slowloris).
    let timeout = std::time::Duration::from_secs(args.request_timeout);
    let srv = server.downgrade();
    glib::timeout_add_local(std::time::Duration::from_millis(500), move || {
        let Some(server) = srv.upgrade() else {
            return glib::ControlFlow::Break;
        };
        // Sessions whose client stopped sending keep-alives (60 s) end here too.
        if let Some(pool) = server.session_pool() {
            pool.cleanup();
        }
        let n = hardening::reap_idle(&server, &activity, timeout);
        if n > 0 {
            eprintln!(
                "rpicam-rtsp-server: closed {n} connection(s) idle for {} s without a session",
                timeout.as_secs()
            );
        }
        glib::ControlFlow::Continue
    });

    let Some(mounts) = server.mount_points() else {
        // A new server always has mount points; keep a clear error rather than a panic.
        return Err(Error::Server("the RTSP server has no mount points"));
    };
    for (path, factory) in factories {
        mounts.add_factory(&path, factory);
    }

    // Bind here rather than through attach(), which only says that it failed: create_socket
    // gives the reason (e.g. "Address already in use").
    let socket = server
        .create_socket(gio::Cancellable::NONE)
        .map_err(|error| {
            let hint = if error.matches(gio::IOErrorEnum::AddressInUse) {
                " (another program uses this port: choose another with --port)"
            } else if error.matches(gio::IOErrorEnum::PermissionDenied) {
                " (ports below 1024 need root: choose another with --port)"
            } else {
                ""
            };
            Error::Listen {
                address: args.address,
                port: args.port,
                error,
                hint,
            }
        })?;
    let port = socket
        .local_address()
        .ok()
        .and_then(|a| a.downcast::<gio::InetSocketAddress>().ok())
        .map(|a| a.port())
        .unwrap_or(args.port);
    // What gst_rtsp_server_create_source() does, on the socket we already have.
    let srv = server.clone();
    let source = gio::prelude::SocketExtManual::create_source(
        &socket,
        glib::IOCondition::IN | glib::IOCondition::ERR | glib::IOCondition::HUP,
        gio::Cancellable::NONE,
        Some("rpicam-rtsp-server listen"),
        glib::Priority::DEFAULT,
        move |socket, condition| match gst_rtsp_server::RTSPServer::io_func(socket, condition, &srv)
        {
            Ok(()) => glib::ControlFlow::Continue,
            Err(e) => {
                eprintln!("rpicam-rtsp-server: error: accepting a connection: {e}");
                glib::ControlFlow::Continue
            }
        },
    );
    source.attach(None);
    Ok((server, port))
}

/// The warning for a server others can reach without a password: any address but loopback
/// and no `--user`. `None` when there is nothing to warn about.
fn exposure_warning(address: IpAddr, port: u16, has_auth: bool) -> Option<String> {
    if address.is_loopback() || has_auth {
        return None;
    }
    let which = if address.is_unspecified() {
        "ALL network interfaces"
    } else {
        "a network interface"
    };
    Some(format!(
        "WARNING: listening on {which} ({address}) WITHOUT a password: anyone who can reach \
         port {port} can watch the camera. Set --user and RPICAM_RTSP_PASSWORD (or \
         --password), or use --address 127.0.0.1."
    ))
}

/// Makes SIGINT and SIGTERM quit `main_loop`: GLib's Unix signal source runs the handler on the
/// main loop itself, so no thread and no signal mask are needed. Call it from the thread that
/// runs the default main context (the main thread), before anything waits for the server.
fn quit_on_stop_signals(main_loop: &glib::MainLoop) -> [glib::SourceId; 2] {
    [libc::SIGINT, libc::SIGTERM].map(|signum| {
        let l = main_loop.clone();
        glib_unix::unix_signal_add_local(signum, move || {
            eprintln!("rpicam-rtsp-server: signal {signum}, stopping");
            l.quit();
            glib::ControlFlow::Continue
        })
    })
}

fn run(args: Args) -> Result<(), Error> {
    // Before the "serving" line: whoever reads it may send SIGTERM at once.
    let main_loop = glib::MainLoop::new(None, false);
    let _stop_signals = quit_on_stop_signals(&main_loop);
    gst::init().map_err(Error::Init)?;
    gstrpicamsrc2::plugin_register_static().map_err(Error::Register)?;

    let launch = args.launch.clone().unwrap_or_else(|| default_launch(&args));
    let password = match &args.password_file {
        Some(path) => Some(read_password_file(path)?),
        None => args.password.clone(),
    };
    // --lores-mount or --record: one camera pipeline of our own, opened now.
    let cam = if args.lores_mount.is_some() || args.record.is_some() {
        if args.lores_mount.as_deref() == Some(args.mount.as_str()) {
            return Err(Error::Camera(format!(
                "--lores-mount {} is the same path as --mount",
                args.mount
            )));
        }
        if args.lores_width > args.width || args.lores_height > args.height {
            return Err(Error::Camera(format!(
                "lores {}x{} is larger than the main stream {}x{}",
                args.lores_width, args.lores_height, args.width, args.height
            )));
        }
        let spec = camera::Spec {
            camera_name: args.camera_name.as_deref(),
            width: args.width,
            height: args.height,
            framerate: args.framerate,
            bitrate: args.bitrate,
            lores: args
                .lores_mount
                .as_ref()
                .map(|_| (args.lores_width, args.lores_height)),
            record: args.record.as_deref(),
        };
        Some(camera::Camera::start(&spec).map_err(Error::Camera)?)
    } else {
        None
    };
    let (_server, port) = start(&args, &launch, password.as_deref(), cam.as_ref())?;

    let host = match args.address {
        IpAddr::V6(a) => format!("[{a}]"),
        IpAddr::V4(a) => a.to_string(),
    };
    if let Some(w) = exposure_warning(args.address, port, args.user.is_some()) {
        eprintln!("rpicam-rtsp-server: {w}");
    }
    match &cam {
        None => eprintln!("rpicam-rtsp-server: pipeline: {launch}"),
        Some(c) => eprintln!("rpicam-rtsp-server: camera pipeline: {}", c.launch),
    }
    // Tests and scripts wait for this line (stdout, flushed by println!'s line buffering).
    println!(
        "rpicam-rtsp-server: serving rtsp://{host}:{port}{}",
        args.mount
    );

    if let Some(m) = &args.lores_mount {
        println!("rpicam-rtsp-server: serving rtsp://{host}:{port}{m} (lores)");
    }
    if let Some(r) = &args.record {
        eprintln!("rpicam-rtsp-server: recording to {}", r.display());
    }

    // A camera pipeline of our own: its errors end the server (exit 1), they would otherwise
    // only starve the clients.
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = match &cam {
        Some(c) => {
            let (l, f) = (main_loop.clone(), failed.clone());
            c.pipeline.bus().and_then(|bus| {
                bus.add_watch_local(move |_, msg| {
                    if let gst::MessageView::Error(e) = msg.view() {
                        eprintln!(
                            "rpicam-rtsp-server: error: camera pipeline: {} ({:?})",
                            e.error(),
                            e.debug()
                        );
                        f.store(true, Ordering::SeqCst);
                        l.quit();
                    }
                    glib::ControlFlow::Continue
                })
                .ok()
            })
        }
        None => None,
    };

    main_loop.run();
    // The stop below reads the bus itself.
    drop(watch);
    if let Some(cam) = &cam {
        cam.stop();
    }
    eprintln!("rpicam-rtsp-server: stopped");
    if failed.load(Ordering::SeqCst) {
        return Err(Error::Camera("the camera pipeline failed".into()));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rpicam-rtsp-server: error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_when_reachable_without_a_password() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("test address");
        assert_eq!(exposure_warning(ip("127.0.0.1"), 8554, false), None);
        assert_eq!(exposure_warning(ip("::1"), 8554, false), None);
        assert_eq!(exposure_warning(ip("0.0.0.0"), 8554, true), None);
        let w = exposure_warning(ip("0.0.0.0"), 8554, false).expect("a warning");
        assert!(w.contains("ALL network interfaces") && w.contains("WITHOUT a password"));
        assert!(w.contains("8554"), "{w}");
        let w = exposure_warning(ip("::"), 9000, false).expect("a warning");
        assert!(w.contains("ALL network interfaces"), "{w}");
        let w = exposure_warning(ip("192.168.1.20"), 8554, false).expect("a warning");
        assert!(w.contains("a network interface (192.168.1.20)"), "{w}");
    }

    #[test]
    fn mount_must_be_a_path() {
        assert_eq!(parse_mount("/cam"), Ok("/cam".to_string()));
        assert_eq!(parse_mount("/a/b"), Ok("/a/b".to_string()));
        for bad in ["cam", "/", "", "/a b", "/a?x=1"] {
            let e = parse_mount(bad).expect_err(bad);
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
    }

    #[test]
    fn default_pipeline_follows_the_options() {
        let args = Args::parse_from([
            "rpicam-rtsp-server",
            "--camera-name",
            "sim:imx477",
            "--width",
            "1920",
            "--height",
            "1080",
            "--framerate",
            "25",
            "--bitrate",
            "5000000",
        ]);
        let l = default_launch(&args);
        assert!(
            l.starts_with("rpicamsrc2 camera-name=\"sim:imx477\" ! "),
            "{l}"
        );
        assert!(l.contains("width=1920,height=1080,framerate=25/1"), "{l}");
        assert!(l.contains("iperiod=25 bitrate=5000000"), "{l}");
        assert!(l.contains("rtph264pay name=pay0"), "{l}");
        gst::init().expect("GStreamer initialises");
        gstrpicamsrc2::plugin_register_static().expect("plugin registers");
        check_launch(&l).expect("the default pipeline parses and has pay0");
    }

    #[test]
    fn low_latency_pipeline_follows_the_options() {
        let args = Args::parse_from([
            "rpicam-rtsp-server",
            "--low-latency",
            "--framerate",
            "60",
            "--bitrate",
            "4000000",
        ]);
        let l = default_launch(&args);
        assert!(l.contains("framerate=60/1"), "{l}");
        assert!(l.contains("leaky=downstream"), "{l}");
        assert!(l.contains("profile=baseline"), "{l}");
        assert!(l.contains("iperiod=30 bitrate=4000000"), "{l}");
        assert!(l.contains("aggregate-mode=zero-latency"), "{l}");
        assert!(!l.contains("h264parse"), "{l}");
        gst::init().expect("GStreamer initialises");
        gstrpicamsrc2::plugin_register_static().expect("plugin registers");
        check_launch(&l).expect("the low-latency pipeline parses and has pay0");
        for other in [
            ["--launch", "videotestsrc ! fakesink"],
            ["--record", "x.mp4"],
        ] {
            let mut argv = vec!["rpicam-rtsp-server", "--low-latency"];
            argv.extend(other);
            assert!(Args::try_parse_from(argv).is_err(), "{other:?}");
        }
    }
}
