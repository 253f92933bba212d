//! A simulation's JSON report and PNG plot (accuracy and ε per round).
//!
//! The plot is drawn by plotters' bitmap backend with an embedded font
//! (DejaVu Sans Mono, Bitstream Vera licence, `assets/`), so no system font
//! library is needed.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::sim::SimReport;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");

/// Errors writing a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Writing a file.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Serializing the report.
    #[error("serializing the report: {0}")]
    Json(#[from] serde_json::Error),
    /// Drawing the plot.
    #[error("drawing the plot: {0}")]
    Plot(String),
}

/// Writes the report as pretty JSON to `path`.
pub fn write_json(report: &SimReport, path: &Path) -> Result<(), ReportError> {
    let s = serde_json::to_string_pretty(report)?;
    std::fs::write(path, s).map_err(|source| ReportError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn plot_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot(e.to_string())
}

/// Draws test accuracy (left panel) and ε spent (right panel) per round into
/// a 1200×500 PNG at `path`.
pub fn write_plot(report: &SimReport, path: &Path) -> Result<(), ReportError> {
    // Registering twice is harmless; the first registration wins.
    let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let (left, right) = root.split_horizontally(600);
    let n = report.rounds.len().max(1) as f64;
    let acc: Vec<(f64, f64)> = report
        .rounds
        .iter()
        .map(|r| (r.round as f64, r.accuracy))
        .collect();
    let eps: Vec<(f64, f64)> = report
        .rounds
        .iter()
        .map(|r| (r.round as f64, r.epsilon))
        .collect();
    let title = format!(
        "{} {} | HE {} | {}",
        report.dataset,
        report.model,
        if report.he { "on" } else { "off" },
        match &report.dp {
            Some(d) => format!(
                "DP eps<={:.2} delta={:.0e}",
                d.target.epsilon, d.target.delta
            ),
            None => "DP off".to_owned(),
        }
    );
    {
        let mut chart = ChartBuilder::on(&left)
            .caption(&title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..n, 0.0..1.0)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("round")
            .y_desc("test accuracy")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(acc, BLUE.stroke_width(2)))
            .map_err(plot_err)?;
    }
    {
        let top = eps.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-3) * 1.1;
        let mut chart = ChartBuilder::on(&right)
            .caption("privacy spent", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..n, 0.0..top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("round")
            .y_desc("epsilon")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(eps, RED.stroke_width(2)))
            .map_err(plot_err)?;
    }
    root.present().map_err(plot_err)?;
    Ok(())
}
