//! `multipart/form-data` bodies (RFC 7578), as Meta's media upload takes them: the parts,
//! each with its name, its own `Content-Type` and its bytes.

use bytes::Bytes;

pub(super) struct Part {
    pub name: String,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Part {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_owned()
    }
}

/// The parts of a body whose `Content-Type` is `multipart/form-data; boundary=…`, or `None`
/// when it is not one.
pub(super) fn parse(content_type: &str, body: &Bytes) -> Option<Vec<Part>> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"').to_owned())
    })?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = &body[..];
    // Everything before the first delimiter is preamble.
    rest = &rest[find(rest, delimiter.as_bytes())? + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let headers_end = find(rest, b"\r\n\r\n")?;
        let headers = std::str::from_utf8(&rest[..headers_end]).ok()?;
        let content = &rest[headers_end + 4..];
        let end = find(content, format!("\r\n{delimiter}").as_bytes())?;
        let mut name = None;
        let mut part_type = None;
        for line in headers.split("\r\n") {
            let (header, value) = line.split_once(':')?;
            if header.trim().eq_ignore_ascii_case("content-disposition") {
                name = value.split(';').find_map(|p| {
                    let (key, value) = p.split_once('=')?;
                    (key.trim() == "name").then(|| value.trim().trim_matches('"').to_owned())
                });
            } else if header.trim().eq_ignore_ascii_case("content-type") {
                part_type = Some(value.trim().to_owned());
            }
        }
        parts.push(Part { name: name?, content_type: part_type, body: body.slice_ref(&content[..end]) });
        rest = &content[end + 2 + delimiter.len()..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_read_with_their_types_and_bytes() {
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x00\r\n--XyZ--\r\n",
        );
        let parts = parse("multipart/form-data; boundary=XyZ", &body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].name.as_str(), parts[0].text().as_str()), ("messaging_product", "whatsapp"));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(&parts[1].body[..], b"\x89PNG\r\n\x00", "the bytes as sent, CRLF and NUL included");
        assert!(parse("application/json", &body).is_none());
        assert!(parse("multipart/form-data; boundary=Other", &body).is_none());
    }
}
