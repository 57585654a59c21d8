//! The review tools. Reviews are public but their authors are not: only a customer's own list
//! names the order a review is about.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};

use super::SupportTools;
use super::checks::{explain, not_found_hint, page_request};
use super::inputs::{CustomerPageQuery, ProductId, ProductReviewsQuery, ReviewId};
use super::outputs::{PublicReviewPage, RatingSummary, ReviewPage, StarCounts};
use crate::caller::CallerSubject;
use crate::model::PublicReview;
use crate::store::Page;

#[tool_router(router = review_tools, vis = "pub(super)")]
impl SupportTools {
    #[tool(
        name = "get_review",
        description = "Get one product review by its id: product, rating (1-5 stars), title, text, date and whether it is a verified purchase. Reviews are public, their authors are not: no customer or order is shown.",
        annotations(
            title = "Get a review",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_review(
        &self,
        Parameters(input): Parameters<ReviewId>,
    ) -> Result<Json<PublicReview>, String> {
        self.store
            .review(&input.review_id)
            .await
            .map(|review| Json(PublicReview::from(review)))
            .map_err(|e| explain("get_review", not_found_hint(e, "review ids look like REV-0001; list the product's or customer's reviews to find one")))
    }

    #[tool(
        name = "list_product_reviews",
        description = "List a product's reviews, newest first, one page at a time: rating, title, text, date and whether each is a verified purchase, without who wrote it. Pass next_cursor back as cursor for the next page. For the average rating use get_product_rating_summary instead.",
        annotations(
            title = "List a product's reviews",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_product_reviews(
        &self,
        Parameters(input): Parameters<ProductReviewsQuery>,
        caller: CallerSubject,
    ) -> Result<Json<PublicReviewPage>, String> {
        let page = page_request(input.page_size, input.cursor, caller)?;
        let Page { items, next_cursor } = self
            .store
            .product_reviews(&input.product_id, &page)
            .await
            .map_err(|e| explain("list_product_reviews", e))?;
        Ok(Json(PublicReviewPage {
            reviews: items.into_iter().map(PublicReview::from).collect(),
            next_cursor,
        }))
    }

    #[tool(
        name = "list_customer_reviews",
        description = "List the reviews a customer has written, with the order each one is about, newest first, one page at a time. Pass next_cursor back as cursor for the next page.",
        annotations(
            title = "List a customer's reviews",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_customer_reviews(
        &self,
        Parameters(input): Parameters<CustomerPageQuery>,
        caller: CallerSubject,
    ) -> Result<Json<ReviewPage>, String> {
        let page = page_request(input.page_size, input.cursor, caller)?;
        let Page { items, next_cursor } = self
            .store
            .customer_reviews(&input.customer_id, &page)
            .await
            .map_err(|e| explain("list_customer_reviews", e))?;
        Ok(Json(ReviewPage {
            reviews: items,
            next_cursor,
        }))
    }

    #[tool(
        name = "get_product_rating_summary",
        description = "Summarise a product's reviews: how many there are, the average star rating, and how many reviews gave each number of stars. A product without reviews has review_count 0 and no average.",
        annotations(
            title = "Summarise a product's ratings",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_product_rating_summary(
        &self,
        Parameters(input): Parameters<ProductId>,
    ) -> Result<Json<RatingSummary>, String> {
        let counts = self
            .store
            .product_star_counts(&input.product_id)
            .await
            .map_err(|e| explain("get_product_rating_summary", e))?;
        let total = counts.total();
        let weighted: u32 = counts
            .0
            .iter()
            .zip(1..)
            .map(|(count, stars)| count * stars)
            .sum();
        let [one, two, three, four, five] = counts.0;
        Ok(Json(RatingSummary {
            product_id: input.product_id.into(),
            review_count: total,
            average_rating: (total > 0)
                .then(|| (f64::from(weighted) / f64::from(total) * 100.0).round() / 100.0),
            star_counts: StarCounts {
                one,
                two,
                three,
                four,
                five,
            },
        }))
    }
}
