//! A rejected request parameter, as Stripe reports it: which parameter, a code and a sentence.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter in Stripe's bracket notation, e.g. `address[line1]`.
    pub param: String,
    /// Stripe's error code: `parameter_invalid_empty`, `parameter_unknown`, `email_invalid`…
    pub code: &'static str,
    pub message: String,
}

impl ParamError {
    pub fn new(param: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            code,
            message: message.into(),
        }
    }

    /// The common case: a value that is not acceptable for this parameter.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(param, "parameter_invalid", message)
    }

    /// Stripe's error for a required parameter that was not sent.
    pub fn missing(param: impl Into<String>) -> Self {
        let param = param.into();
        let message = format!("Missing required param: {param}.");
        Self::new(param, "parameter_missing", message)
    }

    /// Stripe's error for an empty value sent for a parameter that cannot be unset.
    pub fn empty(param: impl Into<String>) -> Self {
        let param = param.into();
        let message = format!(
            "You passed an empty string for '{param}'. We assume empty values are an attempt to unset a parameter; however '{param}' cannot be unset. You should remove '{param}' from your request or supply a non-empty value."
        );
        Self::new(param, "parameter_invalid_empty", message)
    }

    pub fn too_long(param: impl Into<String>, max_chars: usize) -> Self {
        let param = param.into();
        let message = format!("Invalid {param}: must be at most {max_chars} characters");
        Self::new(param, "parameter_invalid_string_too_long", message)
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParamError {}

/// Checks a URL parameter (a redirect, a return URL): absolute http or https, no whitespace,
/// at most 5,000 characters, as Stripe takes them.
pub fn check_url(param: &str, url: &str) -> Result<(), ParamError> {
    check_len(param, url, 5000)?;
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() > "https://".len()
        && !url.chars().any(char::is_whitespace);
    if !ok {
        return Err(ParamError::new(
            param,
            "url_invalid",
            format!("Not a valid URL: {param} must be an absolute http or https URL."),
        ));
    }
    Ok(())
}

/// Checks a free-text parameter against a length limit counted in characters, as Stripe does.
pub fn check_len(param: &str, value: &str, max_chars: usize) -> Result<(), ParamError> {
    if value.chars().count() > max_chars {
        return Err(ParamError::too_long(param, max_chars));
    }
    Ok(())
}
