//! A one-page PDF of text in the standard Helvetica faces: enough for an invoice, with no
//! fonts to embed and nothing to download. Layout is in PDF points (1/72 inch), A4 portrait.

/// One line of text at (`x`, `y`) points from the bottom left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub x: i32,
    pub y: i32,
    pub size: u8,
    pub bold: bool,
    pub text: String,
}

pub const PAGE_WIDTH: i32 = 595;
pub const PAGE_HEIGHT: i32 = 842;

/// A PDF string literal in WinAnsi: parentheses and backslashes escaped; characters outside
/// Latin-1 replaced by their nearest ASCII or `?`.
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('(');
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '−' | '–' | '—' => out.push('-'),
            '•' => out.push('*'),
            '×' => out.push('x'),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c if (c as u32) >= 0xA0 && (c as u32) <= 0xFF => {
                out.push_str(&format!("\\{:03o}", c as u32));
            }
            _ => out.push('?'),
        }
    }
    out.push(')');
    out
}

/// The PDF file for `lines`, titled `title`.
pub fn render(title: &str, lines: &[Text]) -> Vec<u8> {
    let mut content = String::new();
    for l in lines {
        content.push_str(&format!(
            "BT /{} {} Tf {} {} Td {} Tj ET\n",
            if l.bold { "F2" } else { "F1" },
            l.size,
            l.x,
            l.y,
            literal(&l.text)
        ));
    }
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] \
/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>"
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_string(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
            .to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
        format!("<< /Title {} /Producer (Cashbox) >>", literal(title)),
    ];
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in &offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R /Info {} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1,
            objects.len()
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cross_reference_table_points_at_each_object() {
        let pdf = render(
            "Invoice (1)",
            &[Text {
                x: 50,
                y: 800,
                size: 12,
                bold: true,
                text: "Total: 42.00 USD − café".into(),
            }],
        );
        let text = String::from_utf8_lossy(&pdf).to_string();
        assert!(pdf.starts_with(b"%PDF-1.4"));
        assert!(text.ends_with("%%EOF\n"));
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(pdf[startxref..].starts_with(b"xref"));
        let xref = String::from_utf8_lossy(&pdf[startxref..]).to_string();
        for (n, line) in xref.lines().skip(3).take(7).enumerate() {
            let offset: usize = line[..10].parse().unwrap();
            let header = format!("{} 0 obj", n + 1);
            assert!(
                pdf[offset..].starts_with(header.as_bytes()),
                "object {}",
                n + 1
            );
        }
        assert!(text.contains("(Total: 42.00 USD - caf\\351)"));
        assert!(text.contains("/Title (Invoice \\(1\\))"));
    }
}
