//! Reviews: one by id, a product's or a customer's newest first, and a product's star counts.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;

use super::{Page, PageRequest, Store, StoreError};
use crate::model::Review;
use crate::tables::{REVIEWS, REVIEWS_BY_CUSTOMER, REVIEWS_BY_PRODUCT};

/// How many reviews of each star rating a product has.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StarCounts(pub [u32; 5]);

impl StarCounts {
    pub fn total(&self) -> u32 {
        self.0.iter().sum()
    }
}

#[derive(Deserialize)]
struct RatingOnly {
    rating: u8,
}

impl Store {
    pub async fn review(&self, review_id: &str) -> Result<Review, StoreError> {
        self.get(&REVIEWS, &self.reviews_table, review_id, false)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                kind: "review",
                id: review_id.to_owned(),
            })
    }

    pub async fn product_reviews(
        &self,
        product_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Review>, StoreError> {
        self.query_page(
            &["product_reviews"],
            &REVIEWS,
            &self.reviews_table,
            &REVIEWS_BY_PRODUCT,
            product_id,
            page,
        )
        .await
    }

    pub async fn customer_reviews(
        &self,
        customer_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Review>, StoreError> {
        self.query_page(
            &["customer_reviews"],
            &REVIEWS,
            &self.reviews_table,
            &REVIEWS_BY_CUSTOMER,
            customer_id,
            page,
        )
        .await
    }

    /// Counts a product's reviews by star rating, reading only the `rating` attribute of each.
    pub async fn product_star_counts(&self, product_id: &str) -> Result<StarCounts, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.reviews_table)
            .index_name(REVIEWS_BY_PRODUCT.name)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", REVIEWS_BY_PRODUCT.partition_key)
            .expression_attribute_values(":pk", AttributeValue::S(product_id.to_owned()))
            .projection_expression("rating")
            .into_paginator()
            .items()
            .send();
        let mut counts = StarCounts::default();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| StoreError::unavailable("Query", REVIEWS.kind, e))?;
            let RatingOnly { rating } = super::from_item(&REVIEWS, item)?;
            if let Some(count) = counts.0.get_mut(usize::from(rating).wrapping_sub(1)) {
                *count += 1;
            }
        }
        Ok(counts)
    }
}
