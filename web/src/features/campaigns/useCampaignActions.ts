/** The requests that change a campaign's status, and what the dashboard does with the answer. */
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router";
import { api, call, type Campaign } from "../../api/client";
import { errorMessage } from "../../api/errors";
import { keys } from "../../api/queries";

export type StatusAction = "send" | "unschedule" | "pause" | "resume" | "cancel";

export function postAction(action: StatusAction, id: string): Promise<Campaign> {
  const params = { params: { path: { campaign_id: id } } };
  switch (action) {
    case "send":
      return call(api.POST("/api/campaigns/{campaign_id}/send", params));
    case "unschedule":
      return call(api.POST("/api/campaigns/{campaign_id}/unschedule", params));
    case "pause":
      return call(api.POST("/api/campaigns/{campaign_id}/pause", params));
    case "resume":
      return call(api.POST("/api/campaigns/{campaign_id}/resume", params));
    case "cancel":
      return call(api.POST("/api/campaigns/{campaign_id}/cancel", params));
  }
}

/** The campaign as Herald answered, in the cache; the list and the stats are read again. */
export function remember(queryClient: QueryClient, campaign: Campaign): void {
  queryClient.setQueryData(keys.campaign(campaign.id), campaign);
  void queryClient.invalidateQueries({ queryKey: keys.campaignsAll, exact: true });
  void queryClient.invalidateQueries({ queryKey: keys.campaignStats(campaign.id) });
  void queryClient.invalidateQueries({ queryKey: ["campaigns", "recipients", campaign.id] });
}

/** Copies a campaign into a new draft and opens its editor. */
export function useDuplicateCampaign() {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  return useMutation({
    mutationFn: (id: string) =>
      call(api.POST("/api/campaigns/{campaign_id}/duplicate", { params: { path: { campaign_id: id } } })),
    onSuccess: (copy) => {
      remember(queryClient, copy);
      notifications.show({ color: "teal", message: `Copied as the draft “${copy.name}”.` });
      void navigate(`/campaigns/${copy.id}/edit`);
    },
    onError: (error) => notifications.show({ color: "red", title: "Not duplicated", message: errorMessage(error) }),
  });
}
