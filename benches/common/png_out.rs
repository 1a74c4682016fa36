//! What the benchmark plots share: the font plotters draws text with, and writing the RGB
//! buffer plotters drew into as a PNG. Included by path; benchmarks only.

use std::path::Path;

/// Register DejaVu Sans as plotters' "sans-serif" (plotters' own font loading is off to keep the
/// dependency tree small).
pub fn register_font() -> Result<(), String> {
    let font = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ]
    .iter()
    .find_map(|p| std::fs::read(p).ok())
    .ok_or("no DejaVuSans.ttf font found for the plot's text")?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, font)
        .map_err(|_| "the font does not load".to_string())
}

/// Write a `w` × `h` RGB buffer to `path` as a PNG, creating its directory.
pub fn write_png(path: &Path, buf: &[u8], w: u32, h: u32) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().map_err(|e| e.to_string())?;
    wr.write_image_data(buf).map_err(|e| e.to_string())?;
    wr.finish().map_err(|e| e.to_string())
}
