// SPDX-License-Identifier: MPL-2.0
//! The simulated camera's own options: its scene (what it looks at, the light, the subject
//! distance, noise) and fault injection. The element offers the scene options and the stall
//! (`sim-stall-ms`) as properties of the same names; the other fault options are test hooks.

use std::time::Duration;

use crate::camera::backend::{
    CameraError, Fault, OptionKind, OptionSpec, OptionValue, FAULT_CALLER_PANIC,
    FAULT_FRAME_ERRORS, FAULT_PANIC, FAULT_STALL_MS, STALL_MS_MAX,
};
use crate::camera::controls::Choice;

use super::scene::{
    SceneKind, SceneSettings, DEFAULT_COLOUR_TEMPERATURE, DEFAULT_FOCUS, DEFAULT_LUX,
};

/// `sim-scene`: what the camera looks at ([`SCENE_BARS`], [`SCENE_MOVING`], [`SCENE_IMAGE`]).
pub const SCENE: &str = "sim-scene";
/// `sim-image`: the JPEG or PNG file shown with `sim-scene=image`.
pub const IMAGE: &str = "sim-image";
/// `sim-lux`: light on the scene, lux.
pub const LUX: &str = "sim-lux";
/// `sim-colour-temperature`: colour temperature of the light, K.
pub const COLOUR_TEMPERATURE: &str = "sim-colour-temperature";
/// `sim-focus`: subject distance, dioptres.
pub const FOCUS: &str = "sim-focus";
/// `sim-noise`: sensor noise on or off.
pub const NOISE: &str = "sim-noise";
/// `sim-memory`: what the camera's buffers are ([`MEMORY_HEAP`], [`MEMORY_DMABUF`]).
pub const MEMORY: &str = "sim-memory";

/// `sim-scene` value: 75% colour bars.
pub const SCENE_BARS: i32 = 0;
/// `sim-scene` value: a scrolling synthetic scene.
pub const SCENE_MOVING: i32 = 1;
/// `sim-scene` value: the image file in `sim-image`.
pub const SCENE_IMAGE: i32 = 2;

/// `sim-memory` value: ordinary process memory (no descriptor; downstream gets wrapped
/// memory).
pub const MEMORY_HEAP: i32 = 0;
/// `sim-memory` value: dma-bufs from the kernel's system heap
/// ([`crate::camera::dmaheap::SYSTEM_HEAP`]), as libcamera's buffers are on a Pi: downstream
/// gets dma-buf memory that a V4L2 encoder imports without a copy.
pub const MEMORY_DMABUF: i32 = 1;

/// Every option of the simulated camera.
pub static OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: SCENE,
        nick: "Simulated scene",
        blurb: "What a simulated camera looks at",
        kind: OptionKind::Enum {
            type_name: "SimScene",
            choices: &[
                Choice {
                    value: SCENE_BARS,
                    name: "Colour bars",
                    nick: "bars",
                },
                Choice {
                    value: SCENE_MOVING,
                    name: "Moving synthetic scene",
                    nick: "moving",
                },
                Choice {
                    value: SCENE_IMAGE,
                    name: "Still image file",
                    nick: "image",
                },
            ],
            default: SCENE_MOVING,
        },
        property: true,
    },
    OptionSpec {
        name: IMAGE,
        nick: "Simulated scene image",
        blurb: "JPEG or PNG file a simulated camera looks at with sim-scene=image: a regular file (links followed) of at most 64 MiB and 32 Mpx, decoded off the application's thread",
        kind: OptionKind::Str,
        property: true,
    },
    OptionSpec {
        name: LUX,
        nick: "Simulated scene illuminance",
        blurb: "Light on the simulated scene, lux (1 dim room, 400 office, 10000 daylight)",
        kind: OptionKind::Double {
            min: 0.001,
            max: 200_000.0,
            default: DEFAULT_LUX,
        },
        property: true,
    },
    OptionSpec {
        name: COLOUR_TEMPERATURE,
        nick: "Simulated light colour temperature",
        blurb: "Colour temperature of the simulated light, K",
        kind: OptionKind::Double {
            min: 1500.0,
            max: 15000.0,
            default: DEFAULT_COLOUR_TEMPERATURE,
        },
        property: true,
    },
    OptionSpec {
        name: FOCUS,
        nick: "Simulated subject distance",
        blurb: "Subject distance for the simulated focus lens, dioptres (1/m)",
        kind: OptionKind::Double {
            min: 0.0,
            max: 15.0,
            default: DEFAULT_FOCUS,
        },
        property: true,
    },
    OptionSpec {
        name: NOISE,
        nick: "Simulated sensor noise",
        blurb: "Add sensor noise that grows with gain (off lets a static scene skip re-rendering)",
        kind: OptionKind::Bool { default: true },
        property: true,
    },
    OptionSpec {
        name: MEMORY,
        nick: "Simulated camera memory",
        blurb: "What a simulated camera's buffers are: ordinary memory, or dma-bufs from \
                /dev/dma_heap/system as on a Pi (a V4L2 encoder imports them without a copy; \
                the kernel needs CONFIG_DMABUF_HEAPS_SYSTEM). Applies when the camera is next \
                configured",
        kind: OptionKind::Enum {
            type_name: "SimMemory",
            choices: &[
                Choice {
                    value: MEMORY_HEAP,
                    name: "Ordinary memory",
                    nick: "heap",
                },
                Choice {
                    value: MEMORY_DMABUF,
                    name: "dma-bufs from the system dma-buf heap",
                    nick: "dmabuf",
                },
            ],
            default: MEMORY_HEAP,
        },
        property: true,
    },
    OptionSpec {
        name: FAULT_FRAME_ERRORS,
        nick: "Failed frames",
        blurb: "The next N frames complete with an error status (test hook)",
        kind: OptionKind::Int {
            min: 0,
            max: u32::MAX as i64,
            default: 0,
        },
        property: false,
    },
    OptionSpec {
        name: FAULT_STALL_MS,
        nick: "Simulated sensor stall",
        blurb: "Freeze a simulated sensor from now: no frame for this many ms, camera restarts \
                included (-1: until set to 0; 0: end a stall now; also applied when the camera \
                opens)",
        kind: OptionKind::Int {
            min: -1,
            max: STALL_MS_MAX,
            default: 0,
        },
        property: true,
    },
    OptionSpec {
        name: FAULT_PANIC,
        nick: "Capture thread panic",
        blurb: "The simulated camera's capture thread panics at its next frame (test hook)",
        kind: OptionKind::Bool { default: false },
        property: false,
    },
    OptionSpec {
        name: FAULT_CALLER_PANIC,
        nick: "Caller panic",
        blurb: "The next wait for a frame panics in the caller's thread (test hook)",
        kind: OptionKind::Bool { default: false },
        property: false,
    },
];

/// The environment variable that sets options of every simulated camera when it first starts,
/// test hooks included, so that a whole pipeline (`gst-launch-1.0`, a child process in a test)
/// can be driven into a fault: `name=value[@frame]` entries separated by `;`, for example
/// `fault-caller-panic=true@30;sim-lux=20`. An entry with `@frame` is applied once the camera
/// has delivered that frame sequence number (counted from its first start), one without it at
/// the first start.
pub const ENV_OPTIONS: &str = "RPICAMSRC2_SIM_OPTIONS";

/// One entry of [`ENV_OPTIONS`]: from which delivered frame sequence (`None`: at the start),
/// which option, what value.
pub type TimedOption = (Option<u64>, &'static str, OptionValue);

/// The entries of [`ENV_OPTIONS`]'s value `text`, each checked against [`OPTIONS`].
///
/// Errors: [`CameraError::Config`] naming the variable, the entry and what is wrong (an unknown
/// option lists the known ones; a bad value gives the option's range).
pub fn parse_env(text: &str) -> Result<Vec<TimedOption>, CameraError> {
    let bad = |entry: &str, why: String| {
        CameraError::Config(format!("{ENV_OPTIONS}: entry '{entry}': {why}"))
    };
    let mut out = Vec::new();
    for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, rest) = entry
            .split_once('=')
            .ok_or_else(|| bad(entry, "expected name=value[@frame]".into()))?;
        let (value, at) = match rest.rsplit_once('@') {
            Some((v, f)) => {
                let frame = f.trim().parse::<u64>().map_err(|_| {
                    bad(
                        entry,
                        format!("frame '{f}' is not a sequence number from 0"),
                    )
                })?;
                (v, Some(frame))
            }
            None => (rest, None),
        };
        let spec = OPTIONS
            .iter()
            .find(|o| o.name == name.trim())
            .ok_or_else(|| {
                let known: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
                bad(
                    entry,
                    format!("no option '{}' (known: {})", name.trim(), known.join(", ")),
                )
            })?;
        let v = spec.parse(value).map_err(|e| bad(entry, e.to_string()))?;
        out.push((at, spec.name, v));
    }
    Ok(out)
}

/// The scene options' values, as the camera holds them.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneOptions {
    /// `sim-scene`.
    pub scene: i32,
    /// `sim-image`.
    pub image: Option<String>,
    /// `sim-lux`, `sim-colour-temperature`, `sim-focus`, `sim-noise` (its `kind` is derived
    /// from `scene` and `image` by [`SceneOptions::settings`]).
    pub settings: SceneSettings,
}

impl Default for SceneOptions {
    fn default() -> Self {
        Self {
            scene: SCENE_MOVING,
            image: None,
            settings: SceneSettings::default(),
        }
    }
}

impl SceneOptions {
    /// The scene these values describe: `sim-scene=image` without a `sim-image` shows the
    /// moving scene.
    pub fn settings(&self) -> SceneSettings {
        let mut s = self.settings.clone();
        s.kind = match (self.scene, &self.image) {
            (SCENE_BARS, _) => SceneKind::Bars,
            (SCENE_IMAGE, Some(p)) => SceneKind::Image(p.clone()),
            _ => SceneKind::Moving,
        };
        s
    }
}

/// What setting one option asks of the camera.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// New scene values.
    Scene(SceneOptions),
    /// A fault to simulate.
    Fault(Fault),
    /// The buffers' memory from the next configuration on ([`MEMORY_HEAP`], [`MEMORY_DMABUF`]).
    Memory(i32),
}

/// What setting option `name` to `value` changes, given the current scene values.
///
/// Errors: [`CameraError::Config`] for an unknown option or a value of the wrong type or out of
/// range, naming the option, the value and the range.
pub fn change(
    current: &SceneOptions,
    name: &str,
    value: &OptionValue,
) -> Result<Change, CameraError> {
    let spec = OPTIONS
        .iter()
        .find(|o| o.name == name)
        .ok_or_else(|| CameraError::Config(format!("the simulated camera has no option {name}")))?;
    spec.check(value)?;
    let mut o = current.clone();
    match (spec.name, value) {
        (SCENE, OptionValue::Enum(v)) => o.scene = *v,
        (IMAGE, OptionValue::Str(v)) => o.image = v.clone(),
        (LUX, OptionValue::Double(v)) => o.settings.lux = *v,
        (COLOUR_TEMPERATURE, OptionValue::Double(v)) => o.settings.colour_temperature = *v,
        (FOCUS, OptionValue::Double(v)) => o.settings.focus_dioptres = *v,
        (NOISE, OptionValue::Bool(v)) => o.settings.noise = *v,
        (MEMORY, OptionValue::Enum(v)) => return Ok(Change::Memory(*v)),
        (FAULT_FRAME_ERRORS, OptionValue::Int(v)) => {
            return Ok(Change::Fault(Fault::FrameError {
                count: u32::try_from(*v).unwrap_or(u32::MAX),
            }))
        }
        (FAULT_STALL_MS, OptionValue::Int(v)) => {
            return Ok(Change::Fault(Fault::Stall {
                // -1 (the only negative value in range): for ever.
                duration: u64::try_from(*v).ok().map(Duration::from_millis),
            }));
        }
        (FAULT_PANIC, OptionValue::Bool(true)) => return Ok(Change::Fault(Fault::Panic)),
        (FAULT_PANIC | FAULT_CALLER_PANIC, OptionValue::Bool(false)) => {
            return Ok(Change::Scene(o))
        }
        (FAULT_CALLER_PANIC, OptionValue::Bool(true)) => {
            return Ok(Change::Fault(Fault::CallerPanic))
        }
        _ => {
            return Err(CameraError::Config(format!(
                "option {name} cannot take {value}"
            )))
        }
    }
    Ok(Change::Scene(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_follows_scene_and_image() {
        let o = SceneOptions::default();
        assert_eq!(o.settings(), SceneSettings::default());
        let Change::Scene(o) = change(&o, SCENE, &OptionValue::Enum(SCENE_IMAGE)).unwrap() else {
            panic!("a scene change");
        };
        assert_eq!(o.settings().kind, SceneKind::Moving, "no image yet");
        let Change::Scene(o) = change(&o, IMAGE, &OptionValue::Str(Some("/x.png".into()))).unwrap()
        else {
            panic!("a scene change");
        };
        assert_eq!(o.settings().kind, SceneKind::Image("/x.png".into()));
    }

    #[test]
    fn bad_values_name_the_option_and_range() {
        let o = SceneOptions::default();
        for (name, value, says) in [
            (LUX, OptionValue::Double(-1.0), "0.001 to 200000"),
            ("sim-nope", OptionValue::Bool(true), "sim-nope"),
            (FAULT_STALL_MS, OptionValue::Int(-2), "-1 to 2147483647"),
        ] {
            let e = change(&o, name, &value).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains(says), "{e}");
        }
        assert_eq!(
            change(&o, FAULT_FRAME_ERRORS, &OptionValue::Int(2)).unwrap(),
            Change::Fault(Fault::FrameError { count: 2 })
        );
    }

    #[test]
    fn env_entries_parse_with_frames_and_refuse_bad_ones() {
        let e = parse_env(" fault-caller-panic=true@30; sim-lux = 20 ;sim-scene=1;").unwrap();
        assert_eq!(
            e,
            vec![
                (Some(30), FAULT_CALLER_PANIC, OptionValue::Bool(true)),
                (None, LUX, OptionValue::Double(20.0)),
                (None, SCENE, OptionValue::Enum(1)),
            ]
        );
        assert!(parse_env("").unwrap().is_empty());
        assert_eq!(
            parse_env("sim-memory=dmabuf").unwrap(),
            vec![(None, MEMORY, OptionValue::Enum(MEMORY_DMABUF))]
        );
        for (text, says) in [
            ("bogus=1", "no option 'bogus' (known: sim-scene"),
            ("sim-lux=-5", "0.001 to 200000, not -5"),
            ("sim-lux=bright", "0.001 to 200000, not 'bright'"),
            ("fault-panic=maybe", "true or false"),
            ("sim-memory=cma", "one of 0 (heap), 1 (dmabuf)"),
            ("fault-panic=true@soon", "frame 'soon'"),
            ("sim-lux", "expected name=value[@frame]"),
        ] {
            let m = parse_env(text).unwrap_err().to_string();
            assert!(m.contains(ENV_OPTIONS) && m.contains(says), "{text}: {m}");
        }
    }

    #[test]
    fn stall_takes_ms_or_for_ever() {
        let o = SceneOptions::default();
        let stall = |v| change(&o, FAULT_STALL_MS, &OptionValue::Int(v)).unwrap();
        assert_eq!(
            stall(5000),
            Change::Fault(Fault::Stall {
                duration: Some(Duration::from_secs(5))
            })
        );
        assert_eq!(stall(-1), Change::Fault(Fault::Stall { duration: None }));
        assert_eq!(
            stall(0),
            Change::Fault(Fault::Stall {
                duration: Some(Duration::ZERO)
            })
        );
    }
}
