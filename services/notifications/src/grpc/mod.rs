//! `questline.notifications.v1.NotificationsService`: decode, authenticate,
//! validate, authorise, read the store, encode the answer.

mod channels;
mod encode;
mod inbox;
mod preferences;
mod settings;
mod templates;
mod triggers;
mod webhooks;

use questline_kit::auth::TokenVerifier;
use questline_kit::members::MemberDirectory;
use questline_proto::notifications as pb;
use questline_proto::notifications::notifications_service_server::NotificationsService;
use std::sync::Arc;
use tonic::{Request, Response};

use crate::domain::channels::Channel;
use crate::flow::inbox_feed::InboxFeed;
use crate::flow::programmes::Programmes;
use crate::flow::webhooks::Sender;
use crate::store::Store;

pub struct NotificationsApi {
    store: Store,
    members: MemberDirectory,
    auth: Arc<TokenVerifier>,
    webhooks: Arc<Sender>,
    /// The channels this installation can send on.
    channels: Vec<Channel>,
    /// Compiled programmes, for previews.
    programmes: Programmes,
    feed: Arc<InboxFeed>,
}

impl NotificationsApi {
    pub fn new(
        store: Store,
        members: MemberDirectory,
        auth: Arc<TokenVerifier>,
        webhooks: Arc<Sender>,
        channels: Vec<Channel>,
        feed: Arc<InboxFeed>,
    ) -> Self {
        NotificationsApi {
            programmes: Programmes::new(store.clone()),
            store,
            members,
            auth,
            webhooks,
            channels,
            feed,
        }
    }
}

#[tonic::async_trait]
impl NotificationsService for NotificationsApi {
    // The inbox.

    async fn list_inbox(
        &self,
        request: Request<pb::ListInboxRequest>,
    ) -> tonic::Result<Response<pb::ListInboxResponse>> {
        inbox::list(self, request).await
    }

    async fn get_inbox_summary(
        &self,
        request: Request<pb::GetInboxSummaryRequest>,
    ) -> tonic::Result<Response<pb::GetInboxSummaryResponse>> {
        inbox::summary(self, request).await
    }

    async fn get_message_preferences(
        &self,
        request: Request<pb::GetMessagePreferencesRequest>,
    ) -> tonic::Result<Response<pb::GetMessagePreferencesResponse>> {
        preferences::get(self, request).await
    }

    async fn update_message_preferences(
        &self,
        request: Request<pb::UpdateMessagePreferencesRequest>,
    ) -> tonic::Result<Response<pb::UpdateMessagePreferencesResponse>> {
        preferences::update(self, request).await
    }

    async fn list_dispatches(
        &self,
        request: Request<pb::ListDispatchesRequest>,
    ) -> tonic::Result<Response<pb::ListDispatchesResponse>> {
        preferences::list_dispatches(self, request).await
    }

    async fn unsubscribe(
        &self,
        request: Request<pb::UnsubscribeRequest>,
    ) -> tonic::Result<Response<pb::UnsubscribeResponse>> {
        preferences::unsubscribe(self, request).await
    }

    async fn mark_inbox_read(
        &self,
        request: Request<pb::MarkInboxReadRequest>,
    ) -> tonic::Result<Response<pb::MarkInboxReadResponse>> {
        inbox::mark_read(self, request).await
    }

    async fn delete_inbox_message(
        &self,
        request: Request<pb::DeleteInboxMessageRequest>,
    ) -> tonic::Result<Response<pb::DeleteInboxMessageResponse>> {
        inbox::delete(self, request).await
    }

    type WatchInboxStream = inbox::Stream;

    async fn watch_inbox(
        &self,
        request: Request<pb::WatchInboxRequest>,
    ) -> tonic::Result<Response<inbox::Stream>> {
        inbox::watch(self, request).await
    }

    // Members: what notifications holds about one.

    async fn export_member(
        &self,
        request: Request<pb::ExportMemberRequest>,
    ) -> tonic::Result<Response<pb::ExportMemberResponse>> {
        questline_kit::export::handle(&self.auth, &self.members, request, async |t, m| {
            self.store.export_member(t, m).await
        })
        .await
    }

    // Webhooks.

    async fn put_webhook_endpoint(
        &self,
        request: Request<pb::PutWebhookEndpointRequest>,
    ) -> tonic::Result<Response<pb::PutWebhookEndpointResponse>> {
        webhooks::put(self, request).await
    }

    async fn get_webhook_endpoint(
        &self,
        request: Request<pb::GetWebhookEndpointRequest>,
    ) -> tonic::Result<Response<pb::GetWebhookEndpointResponse>> {
        webhooks::get(self, request).await
    }

    async fn list_webhook_endpoints(
        &self,
        request: Request<pb::ListWebhookEndpointsRequest>,
    ) -> tonic::Result<Response<pb::ListWebhookEndpointsResponse>> {
        webhooks::list(self, request).await
    }

    async fn delete_webhook_endpoint(
        &self,
        request: Request<pb::DeleteWebhookEndpointRequest>,
    ) -> tonic::Result<Response<pb::DeleteWebhookEndpointResponse>> {
        webhooks::delete(self, request).await
    }

    async fn get_webhook_secret(
        &self,
        request: Request<pb::GetWebhookSecretRequest>,
    ) -> tonic::Result<Response<pb::GetWebhookSecretResponse>> {
        webhooks::secret(self, request).await
    }

    async fn rotate_webhook_secret(
        &self,
        request: Request<pb::RotateWebhookSecretRequest>,
    ) -> tonic::Result<Response<pb::RotateWebhookSecretResponse>> {
        webhooks::rotate(self, request).await
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> tonic::Result<Response<pb::ListWebhookDeliveriesResponse>> {
        webhooks::deliveries(self, request).await
    }

    async fn get_webhook_delivery(
        &self,
        request: Request<pb::GetWebhookDeliveryRequest>,
    ) -> tonic::Result<Response<pb::GetWebhookDeliveryResponse>> {
        webhooks::delivery(self, request).await
    }

    async fn redeliver_webhook(
        &self,
        request: Request<pb::RedeliverWebhookRequest>,
    ) -> tonic::Result<Response<pb::RedeliverWebhookResponse>> {
        webhooks::redeliver(self, request).await
    }

    // Triggers and templates.

    async fn get_messaging_settings(
        &self,
        request: Request<pb::GetMessagingSettingsRequest>,
    ) -> tonic::Result<Response<pb::GetMessagingSettingsResponse>> {
        settings::get(self, request).await
    }

    async fn update_messaging_settings(
        &self,
        request: Request<pb::UpdateMessagingSettingsRequest>,
    ) -> tonic::Result<Response<pb::UpdateMessagingSettingsResponse>> {
        settings::update(self, request).await
    }

    async fn put_notification_trigger(
        &self,
        request: Request<pb::PutNotificationTriggerRequest>,
    ) -> tonic::Result<Response<pb::PutNotificationTriggerResponse>> {
        triggers::put(self, request).await
    }

    async fn get_notification_trigger(
        &self,
        request: Request<pb::GetNotificationTriggerRequest>,
    ) -> tonic::Result<Response<pb::GetNotificationTriggerResponse>> {
        triggers::get(self, request).await
    }

    async fn list_notification_triggers(
        &self,
        request: Request<pb::ListNotificationTriggersRequest>,
    ) -> tonic::Result<Response<pb::ListNotificationTriggersResponse>> {
        triggers::list(self, request).await
    }

    async fn delete_notification_trigger(
        &self,
        request: Request<pb::DeleteNotificationTriggerRequest>,
    ) -> tonic::Result<Response<pb::DeleteNotificationTriggerResponse>> {
        triggers::delete(self, request).await
    }

    async fn put_message_template(
        &self,
        request: Request<pb::PutMessageTemplateRequest>,
    ) -> tonic::Result<Response<pb::PutMessageTemplateResponse>> {
        templates::put(self, request).await
    }

    async fn get_message_template(
        &self,
        request: Request<pb::GetMessageTemplateRequest>,
    ) -> tonic::Result<Response<pb::GetMessageTemplateResponse>> {
        templates::get(self, request).await
    }

    async fn list_message_templates(
        &self,
        request: Request<pb::ListMessageTemplatesRequest>,
    ) -> tonic::Result<Response<pb::ListMessageTemplatesResponse>> {
        templates::list(self, request).await
    }

    async fn list_message_template_versions(
        &self,
        request: Request<pb::ListMessageTemplateVersionsRequest>,
    ) -> tonic::Result<Response<pb::ListMessageTemplateVersionsResponse>> {
        templates::versions(self, request).await
    }

    async fn delete_message_template(
        &self,
        request: Request<pb::DeleteMessageTemplateRequest>,
    ) -> tonic::Result<Response<pb::DeleteMessageTemplateResponse>> {
        templates::delete(self, request).await
    }

    async fn preview_message_template(
        &self,
        request: Request<pb::PreviewMessageTemplateRequest>,
    ) -> tonic::Result<Response<pb::PreviewMessageTemplateResponse>> {
        templates::preview(self, request).await
    }
}
