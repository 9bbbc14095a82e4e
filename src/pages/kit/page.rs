//! One way to declare a page: a serializable model (its JSON form) that
//! writes its aligned text (`Page::text`) and names its askama template
//! (`html_form!`), drawn in the common layout.

use serde::Serialize;

use super::links::{PageLink, page_links};
use super::profiling::{hint_text, sampling_summary};
use crate::model::allocator::ProfilingState;
use crate::model::cpu::{SamplingHold, sampling_hold};

/// A page's model: serialized as it is for JSON, written as aligned text
/// for curl and httpie, and drawn as HTML by its template.
pub(crate) trait Page: Serialize + HtmlForm {
    /// The aligned plain-text form.
    fn text(&self) -> String;
}

/// A page's HTML form, in the common layout; [`html_form!`] declares it
/// from a template.
pub(crate) trait HtmlForm {
    fn html(&self, layout: &Layout) -> askama::Result<String>;
}

/// Declares `$page`'s HTML form: the askama template at `$template`
/// (under `templates/`), given the common layout as `layout` and the page
/// as `page`. What else a template shows comes from the page's methods.
macro_rules! html_form {
    ($page:ty => $template:tt) => {
        const _: () = {
            #[derive(askama::Template)]
            #[template(path = $template)]
            struct Html<'a> {
                layout: &'a $crate::pages::kit::Layout,
                page: &'a $page,
            }

            impl $crate::pages::kit::HtmlForm for $page {
                fn html(&self, layout: &$crate::pages::kit::Layout) -> askama::Result<String> {
                    askama::Template::render(&Html { layout, page: self })
                }
            }
        };
    };
}
pub(crate) use html_form;

/// What every HTML page shows around its content: the navigation, and the
/// state of heap profiling with what to change when it is off.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) prefix: String,
    pub(crate) profiling: ProfilingState,
    /// A CPU capture holding heap sampling off.
    pub(crate) sampling_hold: Option<SamplingHold>,
}

impl Layout {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            profiling: ProfilingState::read(),
            sampling_hold: sampling_hold(),
        }
    }

    /// The navigation bar's links, from the table of pages.
    pub(crate) fn nav(&self) -> impl Iterator<Item = &'static PageLink> {
        page_links()
    }

    /// A sentence on the state of heap profiling.
    pub(crate) fn profiling_summary(&self) -> String {
        sampling_summary(&self.profiling, self.sampling_hold)
    }

    /// What to change, where something is off.
    pub(crate) fn profiling_hint(&self) -> Option<&'static str> {
        self.profiling.hint().map(hint_text)
    }
}
